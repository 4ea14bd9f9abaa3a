"""The in-memory hub (one process, no Redis) through real protocols in memory."""

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
