"""
One process's connections, with their uids and groups, and delivering to
them. Pure bookkeeping: no I/O but the connections' own C{sendMessage}.
"""

from collections import defaultdict


def encode(data):
    """C{(payload, isBinary)}: C{str} goes as a text message, C{bytes} as binary."""
    if isinstance(data, str):
        return data.encode("utf-8"), False
    return bytes(data), True


class Registry:
    def __init__(self):
        self.clients = {}
        self.uidOf = {}
        self.groupsOf = defaultdict(set)
        self.byUid = defaultdict(set)
        self.byGroup = defaultdict(set)

    def add(self, clientId, protocol):
        self.clients[clientId] = protocol

    def remove(self, clientId):
        """Forget a connection and everything bound to it."""
        self.clients.pop(clientId, None)
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

    def targets(self, kind, key=None, exclude=()):
        """The client ids a send reaches here: kind is client, uid, group or all."""
        if kind == "client":
            found = {key} if key in self.clients else set()
        elif kind == "uid":
            found = self.byUid.get(key, set())
        elif kind == "group":
            found = self.byGroup.get(key, set())
        else:
            found = self.clients.keys()
        return [c for c in found if c not in exclude]

    def deliver(self, clientIds, data):
        """Hand C{data} to these connections; how many took it."""
        payload, isBinary = encode(data)
        for clientId in clientIds:
            self.clients[clientId].sendMessage(payload, isBinary)
        return len(clientIds)


def _discard(index, key, value):
    members = index.get(key)
    if members is not None:
        members.discard(value)
        if not members:
            del index[key]
