"""
C{self.hub}: the calls an app (and the HTTP API) makes, each returning a
L{Deferred}. Connections held here are served at once; with Redis, the
rest through it (L{presence}); without, this process is the whole service.
"""

import base64
import json

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from wss_service.hub import presence
from wss_service.hub.errors import HubError, HubUnavailable
from wss_service.hub.ids import ClientIds, newNode, nodeOf
from wss_service.hub.local import Registry

log = Logger(namespace="wss")
NAME_LIMIT = 256


def _text(what, value):
    if not isinstance(value, str) or not value or len(value) > NAME_LIMIT:
        raise HubError(f"{what} must be text of 1 to {NAME_LIMIT} characters, not {value!r}")
    return value


def _clientId(value):
    if not isinstance(value, str) or nodeOf(value) is None:
        raise HubError(f"{value!r} is not a client id (they look like 3f2a9c1b7d4e-1a)")
    return value


def _data(value):
    if not isinstance(value, (str, bytes)):
        raise HubError(f"data must be text (str) or binary (bytes), not {type(value).__name__}")
    return value


def _exclude(value):
    if isinstance(value, str) or not all(isinstance(c, str) for c in value):
        raise HubError("exclude must be a list of client ids")
    return set(value)


def _close(code, reason):
    if not isinstance(code, int) or not (code == 1000 or 3000 <= code <= 4999):
        raise HubError(f"code must be 1000 or 3000-4999, not {code!r}")
    if not isinstance(reason, str) or len(reason.encode()) > 123:
        raise HubError("reason must be text of at most 123 bytes")


# Runs a call; what it raises (a HubError, HubUnavailable) as a failed Deferred.
_checked = defer.maybeDeferred


class Hub(Service):
    """
    @param redis: a factory C{(channels, received, connected) -> RedisLink},
        or L{None} for the in-memory hub of a single process.
    @param refusal: why hub calls fail in this process (several workers
        without Redis), or L{None}.
    """

    def __init__(self, clock, redis=None, refusal=None):
        self.node = newNode()
        self.ids = ClientIds(self.node)
        self.local = Registry()
        self.refusal = refusal
        self.redis = None
        if redis is not None:
            self.redis = redis([presence.nodeChannel(self.node), presence.ALL],
                               self._received, self._restore)
            self._beat = LoopingCall(self._heartbeat)
            self._beat.clock = clock

    # The service's side: connections coming and going.

    def startService(self):
        super().startService()
        if self.redis is not None:
            self.redis.startService()
            self._beat.start(presence.HEARTBEAT_SECONDS)

    def stopService(self):
        super().stopService()
        if self.redis is None:
            return None
        if self._beat.running:
            self._beat.stop()
        d = defer.succeed(None)
        if self.redis.up:
            d = self.redis.run(presence.DEREGISTER, self.node)
            d.addErrback(lambda f: f.trap(HubUnavailable))
        return d.addCallback(lambda _: self.redis.stopService())

    def attach(self, protocol):
        """A connection opened: its new client id."""
        clientId = self.ids.next()
        self.local.add(clientId, protocol)
        self._remember(presence.REGISTER, self.node, clientId)
        return clientId

    def detach(self, clientId):
        self.local.remove(clientId)
        self._remember(presence.UNREGISTER, clientId)

    def _remember(self, script, *args):
        """Tell Redis, if it is there; if not, L{_restore} puts it right later."""
        if self.redis is not None and self.redis.up:
            self.redis.run(script, *args).addErrback(lambda f: f.trap(HubUnavailable))

    def _heartbeat(self):
        if not self.redis.up:
            return
        d = self.redis.run(presence.HEARTBEAT, self.node)

        def beaten(answer):
            if int(answer[0]):
                # Redis did not know this node: it restarted empty, or took
                # this process for dead.
                return self._restore()
        d.addCallback(beaten)
        d.addErrback(lambda f: f.trap(HubUnavailable))

    def _restore(self):
        held = [[c, self.local.uidOf.get(c), sorted(self.local.groupsOf.get(c, ()))]
                for c in self.local.clients]
        if self.redis.up:
            d = self.redis.run(presence.RESTORE, self.node, json.dumps(held))
            d.addErrback(lambda f: f.trap(HubUnavailable))

    def _received(self, channel, text):
        message = json.loads(text)
        op = message["op"]
        if op == "send":
            if message.get("from") == self.node:
                return
            data = base64.b64decode(message["d"]) if message["b"] else message["d"]
            self.local.deliver(self.local.targets(message["kind"], message.get("key"),
                                                  set(message["x"])), data)
        elif op in ("bind", "unbind", "join", "leave"):
            if message["c"] in self.local.clients:
                getattr(self.local, op)(message["c"], message["k"])
        elif op == "ungroup":
            self.local.ungroup(message["k"])
        elif op == "close":
            protocol = self.local.clients.get(message["c"])
            if protocol is not None:
                protocol.sendClose(message["code"], message["reason"])

    # The app's and the API's side.

    def _needRedis(self):
        if self.refusal:
            raise HubUnavailable(self.refusal)
        return self.redis

    def _send(self, kind, key, data, exclude=()):
        redis = self._needRedis()
        delivered = self.local.deliver(self.local.targets(kind, key, exclude), data)
        if redis is None or (kind == "client" and nodeOf(key) == self.node):
            return {"online": delivered}
        binary = isinstance(data, bytes)
        message = json.dumps({"op": "send", "from": self.node, "kind": kind, "key": key,
                              "x": sorted(exclude), "b": binary,
                              "d": base64.b64encode(data).decode() if binary else data})
        d = redis.run(presence.SEND, self.node, kind, key or "", message,
                      json.dumps(sorted(exclude)))
        return d.addCallback(lambda online: {"online": int(online)})

    def sendToClient(self, clientId, data):
        return _checked(lambda: self._send("client", _clientId(clientId), _data(data)))

    def sendToUid(self, uid, data):
        return _checked(lambda: self._send("uid", _text("uid", uid), _data(data)))

    def sendToGroup(self, group, data, exclude=()):
        return _checked(lambda: self._send("group", _text("group", group), _data(data),
                                           _exclude(exclude)))

    def sendToAll(self, data, exclude=()):
        return _checked(lambda: self._send("all", None, _data(data), _exclude(exclude)))

    def _change(self, op, script, clientId, key, *extra):
        redis = self._needRedis()
        if clientId in self.local.clients:
            # Held here: done at once; Redis hears of it now, or when it is back.
            getattr(self.local, op)(clientId, key)
            self._remember(script, self.node, clientId, key, "", *extra)
            return True
        if redis is None or nodeOf(clientId) == self.node:
            raise HubError(f"client {clientId} is not online", 404)
        message = json.dumps({"op": op, "c": clientId, "k": key})
        d = redis.run(script, self.node, clientId, key, message, *extra)

        def answered(found):
            if not int(found):
                raise HubError(f"client {clientId} is not online", 404)
            return True
        return d.addCallback(answered)

    def bindUid(self, clientId, uid):
        return _checked(lambda: self._change("bind", presence.BIND, _clientId(clientId),
                                             _text("uid", uid)))

    def unbindUid(self, clientId, uid):
        return _checked(lambda: self._change("unbind", presence.UNBIND, _clientId(clientId),
                                             _text("uid", uid)))

    def joinGroup(self, clientId, group):
        return _checked(lambda: self._change("join", presence.MEMBERSHIP, _clientId(clientId),
                                             _text("group", group), "SADD"))

    def leaveGroup(self, clientId, group):
        return _checked(lambda: self._change("leave", presence.MEMBERSHIP, _clientId(clientId),
                                             _text("group", group), "SREM"))

    def ungroup(self, group):
        def call():
            _text("group", group)
            redis = self._needRedis()
            members = len(self.local.byGroup.get(group, ()))
            self.local.ungroup(group)
            if redis is None:
                return members
            message = json.dumps({"op": "ungroup", "k": group})
            return redis.run(presence.UNGROUP, self.node, group, message).addCallback(int)
        return _checked(call)

    def closeClient(self, clientId, code=1000, reason=""):
        def call():
            _clientId(clientId)
            _close(code, reason)
            redis = self._needRedis()
            protocol = self.local.clients.get(clientId)
            if protocol is not None:
                protocol.sendClose(code, reason)
                return True
            if redis is None:
                return False
            message = json.dumps({"op": "close", "c": clientId, "code": code,
                                  "reason": reason})
            return redis.run(presence.CLOSE, self.node, clientId, message).addCallback(
                lambda found: bool(int(found)))
        return _checked(call)

    def _ask(self, script, argument, locally, convert):
        redis = self._needRedis()
        if redis is None:
            return locally()
        return redis.run(script, argument).addCallback(convert)

    def isOnline(self, clientId):
        return _checked(lambda: self._ask(
            presence.IS_ONLINE, _clientId(clientId),
            lambda: clientId in self.local.clients, lambda n: bool(int(n))))

    def isUidOnline(self, uid):
        return _checked(lambda: self._ask(
            presence.CLIENTS_BY_UID, _text("uid", uid),
            lambda: uid in self.local.byUid, bool))

    def getClientIdsByUid(self, uid):
        return _checked(lambda: self._ask(
            presence.CLIENTS_BY_UID, _text("uid", uid),
            lambda: sorted(self.local.byUid.get(uid, ())), sorted))

    def getUidByClientId(self, clientId):
        return _checked(lambda: self._ask(
            presence.UID_OF, _clientId(clientId),
            lambda: self.local.uidOf.get(clientId), lambda uid: uid))

    def getClientIdsByGroup(self, group):
        return _checked(lambda: self._ask(
            presence.CLIENTS_BY_GROUP, _text("group", group),
            lambda: sorted(self.local.byGroup.get(group, ())), sorted))

    def getClientCountByGroup(self, group):
        return _checked(lambda: self._ask(
            presence.CLIENTS_BY_GROUP, _text("group", group),
            lambda: len(self.local.byGroup.get(group, ())), len))

    def getAllClientCount(self):
        return _checked(lambda: self._ask(
            presence.CLIENT_COUNT, "", lambda: len(self.local.clients), int))

    def getAllUidCount(self):
        return _checked(lambda: self._ask(
            presence.UID_COUNT, "", lambda: len(self.local.byUid), int))
