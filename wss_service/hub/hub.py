"""
C{self.hub}: the calls an app (and the HTTP API) makes, each returning a
L{Deferred}. Connections held here are served at once; with Redis, the
rest through it (L{presence}); without, this process is the whole service.

Every name is checked (L{names}) before anything changes anywhere. A
connection leaves the hub when its close begins, so sends and counts pass
over members on their way out.
"""

import base64
import json
from collections import OrderedDict

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from wss_service.hub import history as streams, names, presence
from wss_service.hub.errors import HubError, HubUnavailable
from wss_service.hub.history import History, MemoryHistory, Page, newEpoch
from wss_service.hub.ids import ClientIds, newNode, nodeOf
from wss_service.hub.local import Registry
from wss_service.hub.subprotocol import dataFields

log = Logger(namespace="wss")


def _clientId(value):
    if not isinstance(value, str) or nodeOf(value) is None:
        raise HubError(f"{names.shown(value)} is not a client id (they look like "
                       f"3f2a9c1b7d4e-1a)")
    return value


def _data(value):
    if not isinstance(value, (str, bytes)):
        raise HubError(f"data must be text (str) or binary (bytes), not {type(value).__name__}")
    return value


def _exclude(value):
    if isinstance(value, str) or not all(isinstance(c, str) for c in value):
        raise HubError("exclude must be a list of client ids")
    return sorted(set(value))


def _idempotencyKey(value):
    return None if value is None else names.name("idempotency_key", value)


def _close(code, reason):
    if not isinstance(code, int) or not (code == 1000 or 3000 <= code <= 4999):
        raise HubError(f"code must be 1000 or 3000-4999, not {code!r}")
    if not isinstance(reason, str) or len(reason.encode("utf-8", "replace")) > 123:
        raise HubError("reason must be text of at most 123 bytes")


# Runs a call; what it raises (a HubError, HubUnavailable) as a failed Deferred.
_checked = defer.maybeDeferred


class _Answers:
    """The answers of sends by idempotency key, for L{presence.IDEMPOTENCY_SECONDS}."""

    def __init__(self, clock):
        self.clock = clock
        self._kept = OrderedDict()

    def get(self, key):
        now = self.clock.seconds()
        while self._kept and next(iter(self._kept.values()))[0] <= now:
            self._kept.popitem(last=False)
        kept = self._kept.get(key)
        return kept[1] if kept else None

    def put(self, key, answer):
        self._kept[key] = (self.clock.seconds() + presence.IDEMPOTENCY_SECONDS, answer)


class Hub(Service):
    """
    @param redis: a factory C{(channels, received, connected) -> RedisLink},
        or L{None} for the in-memory hub of a single process.
    @param prefix: the deployment's prefix in Redis.
    @param refusal: why hub calls fail in this process (several workers
        without Redis), or L{None}.
    @param history: which streams keep history (L{History}).
    @ivar resyncs: times this process put its connections back in Redis
        after the link to it was lost (subscriber cut, Redis restarted or
        away, this process taken for dead).
    """

    def __init__(self, clock, redis=None, refusal=None, prefix=presence.defaultPrefix(0),
                 history=History()):
        self.node = newNode()
        self.ids = ClientIds(self.node)
        self.local = Registry()
        self.refusal = refusal
        self.answers = _Answers(clock)
        self.history = history
        self.store = MemoryHistory(history, clock)
        self.redis = None
        self.resyncs = 0
        # Connections changed here that Redis has not heard of; those changed
        # while a resync is under way.
        self._dirty = set()
        self._touched = None
        self._beating = False
        self._syncs = 0
        self._synced = False
        if redis is not None:
            self.presence = presence.Presence(prefix, history)
            self.redis = redis([self.presence.nodeChannel(self.node), self.presence.all],
                               self._received, self._resync)
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
        if self.redis.reachable:
            d = self.redis.run(self.presence.DEREGISTER, self.node)
            d.addErrback(lambda f: f.trap(HubUnavailable))
        return d.addCallback(lambda _: self.redis.stopService())

    def attach(self, protocol):
        """A connection opened: its new client id."""
        clientId = self.ids.next()
        self.local.add(clientId, protocol)
        self._remember(clientId, self._script("REGISTER"), self.node, clientId)
        return clientId

    def detach(self, clientId):
        """A connection is closing or gone: it leaves the hub (once)."""
        if clientId in self.local.clients:
            self.local.remove(clientId)
            self._remember(clientId, self._script("UNREGISTER"), clientId)

    def _remember(self, clientId, script, *args):
        """
        A connection held here changed: tell Redis, if it is there. If it
        cannot be told, the connection is marked, and the next resync
        writes it as this process has it.

        @return: a L{Deferred} that fires once Redis has it (or could not be
            told), so that every process sees a change its caller was told
            of; L{None} without Redis.
        """
        if self.redis is None:
            return None
        if self._touched is not None:
            self._touched.add(clientId)
        if not self.redis.reachable:
            self._dirty.add(clientId)
            return None

        def told(answer):
            if not int(answer):
                self._dirty.add(clientId)

        def untold(failure):
            failure.trap(HubUnavailable)
            self._dirty.add(clientId)
        return self.redis.run(script, *args).addCallbacks(told, untold)

    def _heartbeat(self):
        # Also while the subscriber is cut: this process is alive all the same.
        if not self.redis.reachable or self._beating:
            return
        self._beating = True
        d = self.redis.run(self.presence.HEARTBEAT, self.node)

        def beaten(answer):
            self.redis.beatPublished()
            if int(answer[0]):
                # Redis did not know this node: it restarted empty, or took
                # this process for dead.
                self._resync()

        def done(result):
            self._beating = False
            return result
        d.addCallback(beaten)
        d.addErrback(lambda f: f.trap(HubUnavailable))
        d.addBoth(done)

    def _resync(self):
        """
        Put this process's connections back in Redis, keeping what other
        processes changed there meanwhile (see L{presence.SYNC}).
        """
        if not self.redis.up:
            return
        again = self._synced
        self._synced = True
        self.resyncs += again
        self._syncs += 1
        dirty, self._dirty = self._dirty, set()
        if self._touched is None:
            self._touched = set()
        entries = [[c, *self.local.state(c), int(c in dirty)] for c in self.local.clients]
        d = self.redis.run(self.presence.SYNC, self.node,
                           json.dumps(entries, ensure_ascii=False))

        def synced(view):
            for clientId, uid, groups in view:
                if clientId in self.local.clients and clientId not in self._touched:
                    self.local.setState(clientId, uid or None, groups)
            for protocol in list(self.local.clients.values()):
                if getattr(protocol, "hubFraming", None) is not None:
                    protocol.hubFraming.retry(self.readHistory)
            if again:
                log.info("presence re-synced: {count} connection(s) held here, {changed} "
                         "written as held here, the rest as other processes left them",
                         count=len(entries), changed=len(entries) - len(view))

        def failed(failure):
            failure.trap(HubUnavailable)
            self._dirty |= dirty

        def done(_):
            self._syncs -= 1
            if not self._syncs:
                self._touched = None
        d.addCallbacks(synced, failed).addBoth(done)

    def _received(self, channel, text):
        try:
            self._handle(json.loads(text))
        except Exception:
            # Never into the Redis connection: one bad message loses nothing else.
            log.failure("a hub message from Redis could not be handled: {text!r:.200}",
                        text=text)

    def _handle(self, message):
        op = message["op"]
        if op == "send":
            if message.get("from") == self.node:
                return
            data = base64.b64decode(message["d"]) if message["b"] else message["d"]
            self.local.deliver(self.local.targets(message["kind"], message["keys"],
                                                  set(message["x"])), data, message.get("h", ()))
        elif op in ("bind", "unbind", "join", "leave"):
            if message["c"] in self.local.clients:
                if self._touched is not None:
                    self._touched.add(message["c"])
                getattr(self.local, op)(message["c"], message["k"])
                self.enter(message["c"])
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

    def _send(self, kind, keys, data, exclude=(), idempotencyKey=None):
        redis = self._needRedis()
        targets = self.local.targets(kind, keys, set(exclude))
        kept = self.history.kept(streams.streams(kind, keys))
        if redis is None or (kind == "client" and nodeOf(keys[0]) == self.node
                             and idempotencyKey is None):
            if idempotencyKey is not None:
                first = self.answers.get(idempotencyKey)
                if first is not None:
                    return first
            positions = self.store.append(kept, data) if kept else ()
            answer = {"online": self.local.deliver(targets, data, positions)}
            if idempotencyKey is not None:
                self.answers.put(idempotencyKey, answer)
            return answer
        binary = isinstance(data, bytes)
        encoded = base64.b64encode(data).decode() if binary else data
        message = json.dumps({"op": "send", "from": self.node, "kind": kind, "keys": keys,
                              "x": list(exclude), "b": binary, "d": encoded},
                             ensure_ascii=False)
        # Held here: reached at once, even while Redis is away, unless the
        # send needs Redis's answer first (an idempotency key, offsets).
        first = idempotencyKey is not None or kept
        here = self.local.reachable(targets) if first else self.local.deliver(targets, data)
        d = redis.run(self.presence.SEND, self.node, kind, json.dumps(keys, ensure_ascii=False),
                      message, json.dumps(list(exclude)), idempotencyKey or "", here,
                      json.dumps([[k, newEpoch()] for k in kept], ensure_ascii=False),
                      encoded, int(binary))

        def answered(answer):
            repeated, online = int(answer[0]), int(answer[1])
            if first and not repeated:
                positions = json.loads(answer[2]) if kept else ()
                self.local.deliver(targets, data, positions)
            return {"online": online}
        return d.addCallback(answered)

    def sendToClient(self, clientId, data, idempotencyKey=None):
        return _checked(lambda: self._send("client", [_clientId(clientId)], _data(data), (),
                                           _idempotencyKey(idempotencyKey)))

    def sendToUid(self, uid, data, idempotencyKey=None):
        """C{uid}: one uid, or a list of them."""
        return _checked(lambda: self._send("uid", names.names("uid", uid), _data(data), (),
                                           _idempotencyKey(idempotencyKey)))

    def sendToGroup(self, group, data, exclude=(), idempotencyKey=None):
        """C{group}: one group, or a list of them (each member reached once)."""
        return _checked(lambda: self._send("group", names.names("group", group), _data(data),
                                           _exclude(exclude), _idempotencyKey(idempotencyKey)))

    def sendToAll(self, data, exclude=(), idempotencyKey=None):
        return _checked(lambda: self._send("all", [], _data(data), _exclude(exclude),
                                           _idempotencyKey(idempotencyKey)))

    def _change(self, op, script, clientId, key, *extra):
        redis = self._needRedis()
        if clientId in self.local.clients:
            # Held here: done at once; the answer once Redis has it too (or,
            # while Redis is away, at once: the next resync writes it).
            getattr(self.local, op)(clientId, key)
            told = self._remember(clientId, script, self.node, clientId, key, "", *extra)
            self.enter(clientId)
            return True if told is None else told.addCallback(lambda _: True)
        if redis is None or nodeOf(clientId) == self.node:
            raise HubError(f"client {clientId} is not online", 404)
        message = json.dumps({"op": op, "c": clientId, "k": key}, ensure_ascii=False)
        d = redis.run(script, self.node, clientId, key, message, *extra)
        return d.addCallback(lambda found: self._found(clientId, found))

    def _found(self, clientId, found):
        if not int(found):
            raise HubError(f"client {clientId} is not online", 404)
        return True

    def bindUid(self, clientId, uid):
        return _checked(lambda: self._change("bind", self._script("BIND"), _clientId(clientId),
                                             names.name("uid", uid)))

    def unbindUid(self, clientId, uid):
        return _checked(lambda: self._change("unbind", self._script("UNBIND"),
                                             _clientId(clientId), names.name("uid", uid)))

    def joinGroup(self, clientId, group):
        return _checked(lambda: self._change("join", self._script("MEMBERSHIP"),
                                             _clientId(clientId), names.name("group", group),
                                             "join"))

    def leaveGroup(self, clientId, group):
        return _checked(lambda: self._change("leave", self._script("MEMBERSHIP"),
                                             _clientId(clientId), names.name("group", group),
                                             "leave"))

    def _script(self, name):
        return getattr(self.presence, name) if self.redis is not None else None

    def ungroup(self, group):
        def call():
            names.name("group", group)
            redis = self._needRedis()
            members = len(self.local.byGroup.get(group, ()))
            for clientId in self.local.byGroup.get(group, ()):
                if self._touched is not None:
                    self._touched.add(clientId)
            self.local.ungroup(group)
            if redis is None:
                return members
            message = json.dumps({"op": "ungroup", "k": group}, ensure_ascii=False)
            return redis.run(self.presence.UNGROUP, self.node, group, message).addCallback(int)
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
            if redis is None or nodeOf(clientId) == self.node:
                return False
            message = json.dumps({"op": "close", "c": clientId, "code": code,
                                  "reason": reason}, ensure_ascii=False)
            return redis.run(self.presence.CLOSE, self.node, clientId, message).addCallback(
                lambda found: bool(int(found)))
        return _checked(call)

    # History and the streams a wss-hub.v1 connection is in.

    def readHistory(self, stream, since=None, epoch=None, limit=None):
        """
        A L{Page} of C{stream}: its epoch and offset, and the messages kept
        after C{since} (at most C{limit}) if C{epoch} is the stream's, or is
        L{None}.
        """
        return _checked(self._readHistory, stream, since, epoch, limit)

    def _readHistory(self, stream, since, epoch, limit):
        redis = self._needRedis()
        if redis is None:
            return self.store.read(stream, since, epoch, limit)
        d = redis.run(self.presence.HISTORY, stream, newEpoch(),
                      -1 if since is None else since, epoch or "",
                      limit or self.history.size)

        def page(reply):
            epoch, offset, entries = reply
            kept = []
            for entryId, fields in entries:
                fields = dict(zip(fields[::2], fields[1::2]))
                data = base64.b64decode(fields["d"]) if fields["b"] == "1" else fields["d"]
                kept.append((int(entryId.split("-")[0]), data, json.loads(fields["p"]),
                             int(fields["s"])))
            return Page(epoch, int(offset), kept)
        return d.addCallback(page)

    def enter(self, clientId):
        """
        A C{wss-hub.v1} connection may have entered streams with history
        (it opened, joined, was bound): tell it where it stands in each.
        """
        protocol = self.local.clients.get(clientId)
        framing = getattr(protocol, "hubFraming", None)
        if framing is None:
            return
        framing.enter(self.history.kept(self.local.streamsOf(clientId)), self.readHistory)

    def getHistory(self, stream, since=None, limit=None):
        """
        The kept messages of C{stream} after offset C{since}: C{{"epoch",
        "offset", "messages": [{"offset", "data" or "data_base64"}]}}.
        """
        def call():
            kind, _, name = stream.partition(":") if isinstance(stream, str) else ("", "", "")
            if not (stream == "all" or (kind in ("group", "uid") and names.name(kind, name))):
                raise HubError(f"stream must be group:NAME, uid:NAME or all, not "
                               f"{names.shown(stream)}")
            if not self.history.kept([stream]):
                raise HubError(f"{stream} keeps no history; start the service with "
                               f"--history {stream}", 404)
            for what, value in (("since", since), ("limit", limit)):
                if value is not None and (type(value) is not int or value < 0):
                    raise HubError(f"{what} must be a whole number, 0 or more")
            d = self.readHistory(stream, since or 0, None, limit)
            return d.addCallback(lambda page: {
                "epoch": page.epoch, "offset": page.offset,
                "messages": [{"offset": offset, **dataFields(data)}
                             for offset, data, _, _ in page.entries]})
        return _checked(call)

    # Sessions: a JSON object per connection, readable from every process.

    def _setSession(self, clientId, session, replace):
        fields = names.session(session)
        redis = self._needRedis()
        if redis is None:
            if clientId not in self.local.clients:
                raise HubError(f"client {clientId} is not online", 404)
            kept = {} if replace else self.local.sessions.get(clientId, {})
            self.local.sessions[clientId] = {**kept, **fields}
            return True
        pairs = [item for field in fields.items() for item in field]
        d = redis.run(self.presence.SESSION_SET, clientId, int(replace), *pairs)
        return d.addCallback(lambda found: self._found(clientId, found))

    def setSession(self, clientId, session):
        """Make a connection's session C{session} (a JSON object)."""
        return _checked(lambda: self._setSession(_clientId(clientId), session, True))

    def updateSession(self, clientId, session):
        """Merge C{session}'s keys into a connection's session."""
        return _checked(lambda: self._setSession(_clientId(clientId), session, False))

    def getSession(self, clientId):
        """A connection's session (C{{}} if none was set)."""
        def call():
            _clientId(clientId)
            redis = self._needRedis()
            if redis is None:
                if clientId not in self.local.clients:
                    raise HubError(f"client {clientId} is not online", 404)
                return _decoded(self.local.sessions.get(clientId, {}))

            def answered(reply):
                self._found(clientId, reply[0])
                return _decoded(dict(zip(reply[1::2], reply[2::2])))
            return redis.run(self.presence.SESSION_GET, clientId).addCallback(answered)
        return _checked(call)

    # Questions: answered from this process alone without Redis, from Redis with it.

    def _ask(self, script, argument, locally, convert):
        redis = self._needRedis()
        if redis is None:
            return locally()
        return redis.run(getattr(self.presence, script), argument).addCallback(convert)

    def isOnline(self, clientId):
        return _checked(lambda: self._ask(
            "IS_ONLINE", _clientId(clientId),
            lambda: clientId in self.local.clients, lambda n: bool(int(n))))

    def isUidOnline(self, uid):
        return _checked(lambda: self._ask(
            "CLIENT_COUNT_BY_UID", names.name("uid", uid),
            lambda: uid in self.local.byUid, lambda n: int(n) > 0))

    def getClientIdsByUid(self, uid):
        return _checked(lambda: self._ask(
            "CLIENTS_BY_UID", names.name("uid", uid),
            lambda: sorted(self.local.byUid.get(uid, ())), sorted))

    def getUidByClientId(self, clientId):
        return _checked(lambda: self._ask(
            "UID_OF", _clientId(clientId),
            lambda: self.local.uidOf.get(clientId), lambda uid: uid))

    def getClientIdsByGroup(self, group):
        return _checked(lambda: self._ask(
            "CLIENTS_BY_GROUP", names.name("group", group),
            lambda: sorted(self.local.byGroup.get(group, ())), sorted))

    def getClientCountByGroup(self, group):
        return _checked(lambda: self._ask(
            "CLIENT_COUNT_BY_GROUP", names.name("group", group),
            lambda: len(self.local.byGroup.get(group, ())), int))

    def getUidListByGroup(self, group):
        return _checked(lambda: self._ask(
            "UIDS_BY_GROUP", names.name("group", group),
            lambda: self._localUids(group), sorted))

    def getUidCountByGroup(self, group):
        return _checked(lambda: self._ask(
            "UIDS_BY_GROUP", names.name("group", group),
            lambda: len(self._localUids(group)), len))

    def _localUids(self, group):
        uids = {self.local.uidOf.get(c) for c in self.local.byGroup.get(group, ())}
        return sorted(uids - {None})

    def getAllClientCount(self):
        return _checked(lambda: self._ask(
            "CLIENT_COUNT", "", lambda: len(self.local.clients), int))

    def getAllUidCount(self):
        return _checked(lambda: self._ask(
            "UIDS", "", lambda: len(self.local.byUid), len))

    def getAllUidList(self):
        return _checked(lambda: self._ask(
            "UIDS", "", lambda: sorted(self.local.byUid), sorted))

    def getAllGroupIdList(self):
        return _checked(lambda: self._ask(
            "GROUPS", "", lambda: sorted(self.local.byGroup), sorted))


def _decoded(fields):
    return {key: json.loads(value) for key, value in fields.items()}
