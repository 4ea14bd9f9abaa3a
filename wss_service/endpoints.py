"""
Endpoint strings to listening endpoints, with the service's own TLS.

Any Twisted server endpoint string works. Those that carry certificates get
L{wss_service.tls} instead of Twisted's defaults:

  - C{ssl:443:privateKey=K:certKey=C[:extraCertChain=X]}, as in Twisted;
  - C{haproxy:ssl:...}, the same behind the PROXY protocol;
  - C{tls:ENDPOINT:privateKey=K:certKey=C}, TLS over any other endpoint,
    e.g. a socket handed over by systemd: C{tls:systemd:domain=INET:index=0:...}.
"""

import re

from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import implementer

from wss_service.errors import ConfigurationError
from wss_service.tls import KeyPair

TLS_KEYS = ("privateKey", "certKey", "extraCertChain")
EXAMPLES = "e.g. tcp:8282:interface=127.0.0.1 or ssl:443:privateKey=KEY:certKey=CERT"


@implementer(IStreamServerEndpoint)
class TLSServerEndpoint:
    """Serve TLS, with a given connection creator, over another endpoint."""

    def __init__(self, wrapped, creator, tlsFactory=TLSMemoryBIOFactory):
        self.wrapped = wrapped
        self.creator = creator
        self.tlsFactory = tlsFactory

    def listen(self, protocolFactory):
        return self.wrapped.listen(
            self.tlsFactory(self.creator, False, protocolFactory)
        )


def _segments(description):
    """Split at colons that are not escaped with a backslash."""
    return re.split(r"(?<!\\):", description)


def _unescape(value):
    return re.sub(r"\\(.)", r"\1", value)


def _takeTLS(segments):
    """
    Remove the TLS parts from an endpoint string's segments.

    @return: C{(remaining segments, TLS options or None)}
    """
    options = {}
    remaining = []
    for index, segment in enumerate(segments):
        key, equals, value = segment.partition("=")
        if equals and key in TLS_KEYS:
            options[key] = _unescape(value)
        elif segment == "tls" and index == 0:
            options.setdefault("tls", True)
        elif segment == "ssl" and (index == 0 or segments[index - 1] == "haproxy"):
            options.setdefault("tls", True)
            remaining.append("tcp")
        else:
            remaining.append(segment)
    if not options:
        return remaining, None
    return remaining, options


def _keyPair(description, options):
    if "tls" not in options:
        raise ConfigurationError(
            f"--endpoint {description!r} has certificate options but is not a TLS "
            f"endpoint; start it with ssl: or tls:, {EXAMPLES}"
        )
    if "certKey" not in options:
        raise ConfigurationError(
            f"--endpoint {description!r} needs certKey=CERT (PEM certificate, "
            f"chain after it) and privateKey=KEY"
        )
    return KeyPair(
        options.get("privateKey", options["certKey"]),
        options["certKey"],
        options.get("extraCertChain"),
    )


def _inUserWords(description, error):
    """What Twisted's endpoint parser said, in the words of an endpoint string."""
    kind = _segments(description)[0]
    text = str(error)
    if match := re.search(r"unexpected keyword argument '(\w+)'", text):
        return f"{kind}: takes no option {match[1]}= (a typo?)"
    if match := re.search(r"missing \d+ required positional argument: (.+)", text):
        return f"{kind}: needs {match[1].replace(chr(39), '')}"
    if "invalid literal for int()" in text:
        return f"a number in it is not a whole number ({text.rpartition(': ')[2]})"
    return text


def listeningEndpoint(reactor, description, tlsFor, tlsFactory=TLSMemoryBIOFactory):
    """
    Parse one C{--endpoint} value.

    @param tlsFor: called with a L{KeyPair}, returns the
        L{wss_service.tls.ServerTLS} to use for it (so that endpoints with
        the same files share one).
    @param tlsFactory: the TLS layer under its connections.
    @return: C{(endpoint, ServerTLS or None)}
    @raise ConfigurationError: for a string that cannot work.
    """
    remaining, options = _takeTLS(_segments(description))
    try:
        endpoint = serverFromString(reactor, ":".join(remaining))
    except (KeyError, IndexError) as e:
        raise ConfigurationError(
            f"--endpoint {description!r}: systemd handed over no such socket ({e}); "
            f"run under a .socket unit or systemd-socket-activate, with FileDescriptorName= "
            f"for name="
        ) from None
    except (ValueError, TypeError) as e:
        raise ConfigurationError(
            f"cannot use --endpoint {description!r}: {_inUserWords(description, e)}; {EXAMPLES}"
        ) from None
    if options is None:
        return endpoint, None
    tls = tlsFor(_keyPair(description, options))
    return TLSServerEndpoint(endpoint, tls, tlsFactory), tls


def _escape(value):
    return re.sub(r"([\\:])", r"\\\1", value)


def inheritedDescription(description, index, family):
    """
    The endpoint string for a socket made from C{description} and handed
    over as file descriptor C{index}: the same TLS and PROXY protocol, on
    C{systemd:domain=FAMILY:index=INDEX}.
    """
    remaining, options = _takeTLS(_segments(description))
    prefix = "haproxy:" if remaining[0] == "haproxy" else ""
    adopted = f"{prefix}systemd:domain={family}:index={index}"
    if options is None:
        return adopted
    keyPair = _keyPair(description, options)
    files = [f"{key}={_escape(value)}" for key, value in vars(keyPair).items() if value]
    return ":".join(["tls", adopted, *files])
