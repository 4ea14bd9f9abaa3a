"""
The HTTP API, for a backend (Django, Flask, PHP, cron): C{POST /api/METHOD}
with a JSON object of arguments and C{Authorization: Bearer KEY}. Answers
C{{"result": ...}}, or C{{"error": {"code", "message"}}} with 400, 401, 404,
405, 413 or 503. C{POST /api/batch} runs C{{"commands": [{"method",
"params"}, ...]}} in order.
"""

import base64
import binascii
import hmac
import json

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from wss_service.errors import ConfigurationError
from wss_service.hub.errors import HubError, HubUnavailable
from wss_service.web import QuietSite

log = Logger(namespace="wss")
MAX_BODY = 1024 * 1024
DATA = "data"
# method: (the hub's method, its arguments in order; "?" marks optional ones).
METHODS = {
    "send_to_client": ("sendToClient", ["client_id", DATA, "idempotency_key?"]),
    "send_to_uid": ("sendToUid", ["uid", DATA, "idempotency_key?"]),
    "send_to_group": ("sendToGroup", ["group", DATA, "exclude?", "idempotency_key?"]),
    "send_to_all": ("sendToAll", [DATA, "exclude?", "idempotency_key?"]),
    "bind_uid": ("bindUid", ["client_id", "uid"]),
    "unbind_uid": ("unbindUid", ["client_id", "uid"]),
    "join_group": ("joinGroup", ["client_id", "group"]),
    "leave_group": ("leaveGroup", ["client_id", "group"]),
    "ungroup": ("ungroup", ["group"]),
    "close_client": ("closeClient", ["client_id", "code?", "reason?"]),
    "set_session": ("setSession", ["client_id", "session"]),
    "update_session": ("updateSession", ["client_id", "session"]),
    "get_session": ("getSession", ["client_id"]),
    "is_online": ("isOnline", ["client_id"]),
    "is_uid_online": ("isUidOnline", ["uid"]),
    "get_client_ids_by_uid": ("getClientIdsByUid", ["uid"]),
    "get_uid_by_client_id": ("getUidByClientId", ["client_id"]),
    "get_client_ids_by_group": ("getClientIdsByGroup", ["group"]),
    "get_client_count_by_group": ("getClientCountByGroup", ["group"]),
    "get_uid_list_by_group": ("getUidListByGroup", ["group"]),
    "get_uid_count_by_group": ("getUidCountByGroup", ["group"]),
    "get_all_client_count": ("getAllClientCount", []),
    "get_all_uid_count": ("getAllUidCount", []),
    "get_all_uid_list": ("getAllUidList", []),
    "get_all_group_id_list": ("getAllGroupIdList", []),
    "get_history": ("getHistory", ["stream", "since?", "limit?"]),
}
KEYWORDS = {"client_id": "clientId", "idempotency_key": "idempotencyKey"}


class APIError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code = status, code


def readKey(path):
    """The API key in C{path}: its first line."""
    if not path:
        raise ConfigurationError("--api-endpoint needs --api-key-file FILE, a file holding the "
                                 "key backends send (e.g. made with: openssl rand -hex 32 > FILE)")
    try:
        with open(path) as f:
            key = f.readline().strip()
    except OSError as e:
        raise ConfigurationError(f"cannot read --api-key-file {path}: {e.strerror}") from None
    if len(key) < 16:
        raise ConfigurationError(f"--api-key-file {path} holds a key of {len(key)} characters; "
                                 f"use at least 16 (openssl rand -hex 32 > {path})")
    return key


def arguments(method, params):
    """The positional and keyword arguments of a hub call, from JSON params."""
    if method not in METHODS:
        raise APIError(404, "unknown_method", f"no method {method!r}; the methods are "
                       f"{', '.join(sorted(METHODS))} and batch")
    if not isinstance(params, dict):
        raise APIError(400, "bad_request", "the body must be a JSON object of arguments")
    name, spec = METHODS[method]
    given = dict(params)
    args, kwargs = [], {}
    for argument in spec:
        optional = argument.endswith("?")
        argument = argument.rstrip("?")
        if argument == DATA:
            args.append(_data(given))
        elif argument in given:
            value = given.pop(argument)
            if optional:
                kwargs[KEYWORDS.get(argument, argument)] = value
            else:
                args.append(value)
        elif not optional:
            raise APIError(400, "bad_request", f"{method} needs {argument!r}")
    if given:
        raise APIError(400, "bad_request",
                       f"{method} takes no {', '.join(repr(k) for k in sorted(given))}")
    if "exclude" in kwargs and not isinstance(kwargs["exclude"], list):
        raise APIError(400, "bad_request", "exclude must be a list of client ids")
    return name, args, kwargs


def _data(given):
    if ("data" in given) == ("data_base64" in given):
        raise APIError(400, "bad_request", "give data (text) or data_base64 (binary), one of them")
    if "data" in given:
        data = given.pop("data")
        if not isinstance(data, str):
            raise APIError(400, "bad_request", "data must be text; send binary as data_base64")
        return data
    try:
        return base64.b64decode(given.pop("data_base64"), validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise APIError(400, "bad_request", "data_base64 is not base64") from None


class LimitedRequest(Request):
    """Keeps at most L{MAX_BODY} bytes of a body; a larger one is answered 413."""

    tooLarge = False
    _received = 0

    def handleContentChunk(self, data):
        self._received += len(data)
        if self._received > MAX_BODY:
            self.tooLarge = True
        elif not self.tooLarge:
            super().handleContentChunk(data)


class API(Resource):
    isLeaf = True

    def __init__(self, hub, key):
        super().__init__()
        self.hub = hub
        self.key = key.encode()

    def render(self, request):
        request.setHeader(b"content-type", b"application/json")
        try:
            self._authorize(request)
            if request.method != b"POST":
                raise APIError(405, "method_not_allowed", "use POST")
            if request.tooLarge:
                raise APIError(413, "too_large", f"the body is over {MAX_BODY} bytes")
            method = self._method(request)
            body = self._body(request)
        except APIError as e:
            return self._error(request, e)
        d = self._batch(body) if method == "batch" else self.call(method, body)
        d.addCallback(lambda result: {"result": result})
        d.addErrback(self._failed, request)
        d.addErrback(self._unexpected, request)
        d.addCallback(self._answer, request)
        return NOT_DONE_YET

    def _authorize(self, request):
        given = (request.getHeader(b"authorization") or b"").decode("latin-1")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(),
                                                                 self.key):
            request.setHeader(b"www-authenticate", b"Bearer")
            raise APIError(401, "unauthorized", "send Authorization: Bearer <the key in "
                           "--api-key-file>" if not given else "wrong API key")

    def _method(self, request):
        path = request.path.decode("latin-1").strip("/").split("/")
        if len(path) != 2 or path[0] != "api":
            raise APIError(404, "unknown_method", "POST /api/<method>, e.g. /api/send_to_uid")
        return path[1]

    def _body(self, request):
        text = request.content.read() or b"{}"
        try:
            return json.loads(text)
        except (ValueError, UnicodeDecodeError) as e:
            raise APIError(400, "bad_request", f"the body is not JSON: {e}") from None

    def call(self, method, params):
        try:
            name, args, kwargs = arguments(method, params)
            return getattr(self.hub, name)(*args, **kwargs)
        except (APIError, HubError) as e:
            return defer.fail(e)

    @defer.inlineCallbacks
    def _batch(self, body):
        commands = body.get("commands") if isinstance(body, dict) else None
        if not isinstance(commands, list) or not all(isinstance(c, dict) for c in commands):
            raise APIError(400, "bad_request", 'batch takes {"commands": [{"method": ..., '
                           '"params": {...}}, ...]}')
        results = []
        for command in commands:
            try:
                result = yield self.call(command.get("method"), command.get("params", {}))
                results.append({"result": result})
            except (APIError, HubError, HubUnavailable) as e:
                results.append({"error": self._describe(e)[1]})
        return results

    def _describe(self, error):
        if isinstance(error, APIError):
            return error.status, {"code": error.code, "message": str(error)}
        if isinstance(error, HubUnavailable):
            return 503, {"code": "unavailable", "message": str(error)}
        code = "not_found" if error.status == 404 else "bad_request"
        return error.status, {"code": code, "message": str(error)}

    def _failed(self, failure, request):
        failure.trap(APIError, HubError, HubUnavailable)
        status, error = self._describe(failure.value)
        request.setResponseCode(status)
        return {"error": error}

    def _unexpected(self, failure, request):
        log.failure("hub API call failed", failure)
        request.setResponseCode(500)
        return {"error": {"code": "internal", "message": "see the service's log"}}

    def _answer(self, answer, request):
        if not request._disconnected:
            request.write(json.dumps(answer).encode() + b"\n")
            request.finish()

    def _error(self, request, error):
        status, described = self._describe(error)
        request.setResponseCode(status)
        return json.dumps({"error": described}).encode() + b"\n"


def apiSite(hub, key):
    site = QuietSite(API(hub, key))
    site.requestFactory = LimitedRequest
    return site
