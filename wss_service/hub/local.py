"""
One process's connections, with their uids, groups and sessions, and
delivering to them. Pure bookkeeping: no I/O but the connections' own
C{sendMessage} (or C{sendPrepared}: one frame built for all of them).
"""

from collections import Counter, defaultdict

from autobahn.websocket.protocol import WebSocketProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from wss_service.fastpaths import frames
from wss_service.hub.history import belongs

log = Logger(namespace="wss")
OPEN = WebSocketProtocol.STATE_OPEN


def encode(data):
    """C{(payload, isBinary)}: C{str} goes as a text message, C{bytes} as binary."""
    if isinstance(data, str):
        return data.encode("utf-8"), False
    return bytes(data), True


def _passedOver(protocol):
    """Why a send passes this connection over (C{closing}, C{backed_up}), or L{None}."""
    if protocol is None or protocol.state != OPEN:
        return "closing"
    if getattr(protocol, "backedUp", False):
        return "backed_up"
    return None


class Registry:
    """
    @ivar delivered: messages handed to connections, in all.
    @ivar skipped: sends passed over, by why: C{closing} (not open any
        more), C{backed_up} (over its send limit), C{error} (its
        C{sendMessage} raised).
    """

    def __init__(self):
        self.clients = {}
        self.uidOf = {}
        self.groupsOf = defaultdict(set)
        self.byUid = defaultdict(set)
        self.byGroup = defaultdict(set)
        self.sessions = {}
        self.delivered = 0
        self.skipped = Counter()

    def add(self, clientId, protocol):
        self.clients[clientId] = protocol

    def remove(self, clientId):
        """Forget a connection and everything bound to it."""
        self.clients.pop(clientId, None)
        self.sessions.pop(clientId, None)
        uid = self.uidOf.get(clientId)
        if uid is not None:
            self.unbind(clientId, uid)
        for group in list(self.groupsOf.get(clientId, ())):
            self.leave(clientId, group)
        self.groupsOf.pop(clientId, None)

    def bind(self, clientId, uid):
        """One uid per connection: binding another replaces it."""
        previous = self.uidOf.get(clientId)
        if previous is not None and previous != uid:
            self.unbind(clientId, previous)
        self.uidOf[clientId] = uid
        self.byUid[uid].add(clientId)

    def unbind(self, clientId, uid):
        if self.uidOf.get(clientId) != uid:
            return
        del self.uidOf[clientId]
        _discard(self.byUid, uid, clientId)

    def join(self, clientId, group):
        self.groupsOf[clientId].add(group)
        self.byGroup[group].add(clientId)

    def leave(self, clientId, group):
        _discard(self.groupsOf, clientId, group)
        _discard(self.byGroup, group, clientId)

    def ungroup(self, group):
        for clientId in self.byGroup.pop(group, ()):
            _discard(self.groupsOf, clientId, group)

    def state(self, clientId):
        """C{(uid or None, sorted groups)} of a connection held here."""
        return self.uidOf.get(clientId), sorted(self.groupsOf.get(clientId, ()))

    def setState(self, clientId, uid, groups):
        """Make a connection's uid and groups these (what Redis says it has)."""
        if uid is None:
            current = self.uidOf.get(clientId)
            if current is not None:
                self.unbind(clientId, current)
        else:
            self.bind(clientId, uid)
        wanted = set(groups)
        for group in list(self.groupsOf.get(clientId, ())):
            if group not in wanted:
                self.leave(clientId, group)
        for group in wanted:
            self.join(clientId, group)

    def targets(self, kind, keys=(), exclude=()):
        """
        The client ids a send reaches here: C{kind} is client, uid, group
        or all; C{keys} the client id, or the uids or groups (each
        connection once).
        """
        if kind == "client":
            found = {k for k in keys if k in self.clients}
        elif kind in ("uid", "group"):
            index = self.byUid if kind == "uid" else self.byGroup
            found = set()
            for key in keys:
                found |= index.get(key, set())
        else:
            found = self.clients.keys()
        return [c for c in found if c not in exclude]

    def positionsOf(self, clientId, positions):
        """Of these positions, those of streams the connection is in."""
        uid, groups = self.uidOf.get(clientId), self.groupsOf.get(clientId, ())
        return [p for p in positions if belongs(p[0], uid, groups)]

    def streamsOf(self, clientId):
        """The streams a connection is in."""
        uid, groups = self.state(clientId)
        return ["all"] + [f"uid:{uid}"] * (uid is not None) + [f"group:{g}" for g in groups]

    def reachable(self, clientIds):
        """How many of these connections a send would reach now."""
        return sum(_passedOver(self.clients.get(c)) is None for c in clientIds)

    def deliver(self, clientIds, data, positions=()):
        """
        Hand C{data} to these connections; how many took it. One that is
        not open, is backed up or raises is passed over: it never stops the
        others. A C{wss-hub.v1} connection gets it framed, with the
        C{positions} (C{[[stream, epoch, offset], ...]}) of the streams it
        is in.
        """
        payload, isBinary = encode(data)
        # Framed once for all; compiled, the plain members are sent to in one call.
        prepared = frames.prepare(payload, isBinary)
        count, others, failures = frames.sendAll(self.clients, clientIds, prepared)
        for clientId, failure in failures:
            self._failed(clientId, Failure(failure))
        for clientId in others:
            protocol = self.clients.get(clientId)
            why = _passedOver(protocol)
            if why:
                self.skipped[why] += 1
                continue
            try:
                framing = protocol.hubFraming
                if framing is not None:
                    framing.deliver(data, self.positionsOf(clientId, positions))
                elif hasattr(protocol, "sendPrepared"):
                    frames.sendPrepared(protocol, prepared)
                else:
                    protocol.sendMessage(payload, isBinary)
            except Exception:
                self._failed(clientId, Failure())
                continue
            count += 1
        self.delivered += count
        return count

    def _failed(self, clientId, failure):
        self.skipped["error"] += 1
        log.failure("sending to {client} failed; the others still get it", failure,
                    client=clientId)


def _discard(index, key, value):
    members = index.get(key)
    if members is not None:
        members.discard(value)
        if not members:
            del index[key]
