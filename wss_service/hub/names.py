"""
What the hub accepts as a uid, a group, an idempotency key and a session,
checked at every door (the app, the HTTP API, a token's claims) before
anything changes anywhere.
"""

import json
import re

from wss_service.hub.errors import HubError

NAME_LIMIT = 256
LIST_LIMIT = 1000
SESSION_LIMIT = 64 * 1024
# In a Python str, a surrogate code point is always a lone one: JSON
# encoders, Redis's cjson and UTF-8 all refuse it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def name(what, value):
    """C{value} if it is text of 1 to L{NAME_LIMIT} characters without lone surrogates."""
    if (not isinstance(value, str) or not 1 <= len(value) <= NAME_LIMIT
            or _SURROGATE.search(value)):
        raise HubError(f"{what} must be text of 1 to {NAME_LIMIT} characters without lone "
                       f"surrogates, not {shown(value)}")
    return value


def shown(value):
    text = repr(value)
    if len(text) <= 40:
        return text
    if isinstance(value, str):
        return f"{text[:40]}... ({len(value)} characters)"
    return f"{text[:40]}..."


def names(what, value):
    """One name, or a list of 1 to L{LIST_LIMIT}: as a sorted list without repeats."""
    if isinstance(value, (list, tuple)):
        if not 1 <= len(value) <= LIST_LIMIT:
            raise HubError(f"a list of {what}s holds 1 to {LIST_LIMIT}, not {len(value)}")
        return sorted({name(what, v) for v in value})
    return [name(what, value)]


def session(value):
    """A session: a JSON object of at most L{SESSION_LIMIT} bytes, as C{{key: JSON text}}."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise HubError("a session is a JSON object (a dict with text keys)")
    try:
        fields = {name("a session key", k): json.dumps(v, ensure_ascii=False,
                                                        allow_nan=False)
                  for k, v in value.items()}
        size = sum(len(k.encode()) + len(v.encode()) for k, v in fields.items())
    except (TypeError, ValueError, UnicodeEncodeError) as e:
        raise HubError(f"a session holds JSON values only: {e}") from None
    if size > SESSION_LIMIT:
        raise HubError(f"a session holds at most {SESSION_LIMIT} bytes, not {size}")
    return fields
