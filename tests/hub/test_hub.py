"""The in-memory hub (one process, no Redis) through real protocols in memory."""

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from tests.support.handshake import InMemory, serverFrames
from tests.test_protocol import factory
from wss_service.apps import EchoProtocol
from wss_service.hub.errors import HubError, HubUnavailable
from wss_service.hub.hub import Hub


class MemoryHubTests(InMemory, TestCase):
    def setUp(self):
        super().setUp()
        self.factory = factory(EchoProtocol, clock=self.clock)
        self.hub = self.factory.hub
        self.opened = [self.handshake(self.factory) for _ in range(3)]
        self.ids = [p.clientId for p, _ in self.opened]
        for _, transport in self.opened:
            transport.clear()

    def frames(self, index):
        frames = serverFrames(self.opened[index][1].value())
        self.opened[index][1].clear()
        return frames

    def result(self, d):
        return self.successResultOf(d)

    def test_sendsAndQueries(self):
        hub, ids = self.hub, self.ids
        self.assertEqual(len(set(ids)), 3)
        self.assertIs(self.result(hub.bindUid(ids[0], "u")), True)
        self.assertIs(self.result(hub.bindUid(ids[1], "u")), True)
        self.assertEqual(self.result(hub.sendToUid("u", "hi")), {"online": 2})
        self.assertEqual([self.frames(i) for i in range(3)], [[(1, b"hi")], [(1, b"hi")], []])
        self.assertIs(self.result(hub.joinGroup(ids[2], "g")), True)
        self.assertEqual(self.result(hub.sendToGroup("g", b"\x01")), {"online": 1})
        self.assertEqual(self.frames(2), [(2, b"\x01")])
        self.assertEqual(self.result(hub.sendToAll("all", exclude=[ids[0]])), {"online": 2})
        self.assertEqual(self.result(hub.getClientIdsByUid("u")), sorted(ids[:2]))
        self.assertEqual(self.result(hub.getAllClientCount()), 3)
        self.assertEqual(self.result(hub.getAllUidCount()), 1)
        self.assertEqual(self.result(hub.getClientCountByGroup("g")), 1)
        self.assertEqual(self.result(hub.getUidByClientId(ids[1])), "u")
        self.assertIs(self.result(hub.isUidOnline("u")), True)
        self.assertIs(self.result(hub.closeClient(ids[1], 4000, "bye")), True)
        self.assertEqual(self.frames(1)[-1][0], 8)

    def test_bindingsEndWithTheConnection(self):
        self.result(self.hub.bindUid(self.ids[0], "u"))
        self.result(self.hub.joinGroup(self.ids[0], "g"))
        self.lose(self.opened[0][0])
        self.assertIs(self.result(self.hub.isOnline(self.ids[0])), False)
        self.assertIs(self.result(self.hub.isUidOnline("u")), False)
        self.assertEqual(self.result(self.hub.getClientCountByGroup("g")), 0)
        self.assertEqual(self.result(self.hub.sendToClient(self.ids[0], "x")), {"online": 0})

    def test_gatewayWorkerCalls(self):
        hub, ids = self.hub, self.ids
        for clientId, uid in zip(ids, ("u1", "u2", "u2")):
            self.result(hub.bindUid(clientId, uid))
        for clientId in ids[:2]:
            self.result(hub.joinGroup(clientId, "g1"))
        self.result(hub.joinGroup(ids[2], "g2"))
        self.assertEqual(self.result(hub.getAllUidList()), ["u1", "u2"])
        self.assertEqual(self.result(hub.getAllGroupIdList()), ["g1", "g2"])
        self.assertEqual(self.result(hub.getUidListByGroup("g1")), ["u1", "u2"])
        self.assertEqual(self.result(hub.getUidCountByGroup("g2")), 1)
        # A list reaches each connection once.
        self.assertEqual(self.result(hub.sendToGroup(["g1", "g2"], "x")), {"online": 3})
        self.assertEqual(self.result(hub.sendToUid(["u1", "u2", "nobody"], "y")),
                         {"online": 3})
        self.assertEqual([self.frames(i) for i in range(3)], [[(1, b"x"), (1, b"y")]] * 3)

    def test_sessions(self):
        hub, clientId = self.hub, self.ids[0]
        self.assertEqual(self.result(hub.getSession(clientId)), {})
        self.assertIs(self.result(hub.setSession(clientId, {"name": "tom", "n": 1})), True)
        self.assertIs(self.result(hub.updateSession(clientId, {"n": 2, "cart": [1, {}]})), True)
        self.assertEqual(self.result(hub.getSession(clientId)),
                         {"name": "tom", "n": 2, "cart": [1, {}]})
        self.result(hub.setSession(clientId, {"only": None}))
        self.assertEqual(self.result(hub.getSession(clientId)), {"only": None})
        for bad in ["text", {"k": float("nan")}, {"k": "\ud800"}, {"k": "x" * 70000}, {1: 2}]:
            self.failureResultOf(hub.setSession(clientId, bad), HubError)
        self.lose(self.opened[0][0])
        self.assertEqual(self.failureResultOf(hub.getSession(clientId), HubError).value.status,
                         404)

    def test_idempotentSends(self):
        hub = self.hub
        self.assertEqual(self.result(hub.sendToAll("once", idempotencyKey="k1")),
                         {"online": 3})
        self.lose(self.opened[2][0])
        # The same key again: not delivered again, the first answer.
        self.assertEqual(self.result(hub.sendToAll("once", idempotencyKey="k1")),
                         {"online": 3})
        self.assertEqual(self.frames(0), [(1, b"once")])
        self.clock.advance(301)
        self.assertEqual(self.result(hub.sendToAll("again", idempotencyKey="k1")),
                         {"online": 2})
        self.failureResultOf(hub.sendToAll("x", idempotencyKey=""), HubError)

    def test_closingMemberPassedOver(self):
        # A close the client never answers: from the moment it is sent, the
        # member is neither reached nor counted, and nothing fails.
        protocol, transport = self.opened[1]
        self.result(self.hub.joinGroup(self.ids[1], "g"))
        self.result(self.hub.joinGroup(self.ids[0], "g"))
        protocol.sendClose(1000)
        transport.clear()
        self.assertEqual(self.result(self.hub.sendToGroup("g", "x")), {"online": 1})
        self.assertEqual(self.result(self.hub.sendToAll("y")), {"online": 2})
        self.assertEqual(transport.value(), b"")
        self.assertEqual(self.result(self.hub.getClientCountByGroup("g")), 1)
        self.assertIs(self.result(self.hub.isOnline(self.ids[1])), False)

    def test_badNamesChangeNothing(self):
        hub, clientId = self.hub, self.ids[0]
        for bad in ["", "x" * 257, "room-\ud800", "\udc00", 7, None, ["ok", "\ud800"], []]:
            self.failureResultOf(hub.joinGroup(clientId, bad), HubError)
            self.failureResultOf(hub.sendToGroup(bad, "x"), HubError)
            self.failureResultOf(hub.bindUid(clientId, bad), HubError)
        self.assertEqual(self.result(hub.getAllGroupIdList()), [])
        self.assertEqual(self.result(hub.getAllUidList()), [])
        # Astral characters are fine.
        self.assertIs(self.result(hub.joinGroup(clientId, "room-\U0001f600")), True)

    def test_badArguments(self):
        for call in [lambda: self.hub.sendToUid(5, "x"), lambda: self.hub.sendToUid("u", 5),
                     lambda: self.hub.bindUid("nope", "u"), lambda: self.hub.joinGroup(
                         self.ids[0], ""), lambda: self.hub.sendToAll("x", exclude="abc"),
                     lambda: self.hub.closeClient(self.ids[0], 1001),
                     lambda: self.hub.bindUid("0123456789ab-1", "u")]:
            self.failureResultOf(call(), HubError)

    def test_refusing(self):
        hub = Hub(self.clock, refusal="needs --redis")
        self.failureResultOf(hub.sendToAll("x"), HubUnavailable)
        self.failureResultOf(hub.getAllClientCount(), HubUnavailable)


class HeldReplies:
    """
    What the hub uses of its link to Redis, with each reply held until the
    test releases it: to check what waits for Redis (the real link is
    tested against redis-server in tests/integration/test_hub_faults.py).
    """

    up = reachable = True

    def __init__(self, channels, received, connected):
        self.replies = []

    def run(self, script, *args):
        d = defer.Deferred()
        self.replies.append(d)
        return d


class ReadYourWritesTests(InMemory, TestCase):
    def test_ownChangeAnsweredOnceRedisHasIt(self):
        hub = Hub(self.clock, redis=HeldReplies)
        f = factory(EchoProtocol, clock=self.clock)
        f.hub = hub
        protocol, _ = self.handshake(f)
        hub.redis.replies.clear()
        bound = hub.bindUid(protocol.clientId, "u")
        # Done here at once, but not answered before Redis has it: another
        # process asked right after the answer must see it.
        self.assertEqual(hub.local.uidOf[protocol.clientId], "u")
        self.assertNoResult(bound)
        hub.redis.replies[-1].callback(1)
        self.assertIs(self.successResultOf(bound), True)
