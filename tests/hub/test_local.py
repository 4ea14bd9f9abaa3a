from autobahn.exception import Disconnected
from autobahn.websocket.protocol import WebSocketProtocol
from twisted.trial.unittest import TestCase

from wss_service.hub.local import Registry


class Connection:
    """What the registry uses of a connection: its state and sendMessage."""

    state = WebSocketProtocol.STATE_OPEN
    backedUp = False
    hubFraming = None

    def __init__(self):
        self.sent = []

    def sendMessage(self, payload, isBinary):
        self.sent.append((payload, isBinary))


class Raising(Connection):
    def sendMessage(self, payload, isBinary):
        raise Disconnected("Attempt to send on a closed protocol")


class RegistryTests(TestCase):
    def setUp(self):
        self.registry = Registry()
        self.connections = {}
        for clientId in ("a", "b", "c"):
            self.connections[clientId] = Connection()
            self.registry.add(clientId, self.connections[clientId])

    def test_uidsAndGroups(self):
        r = self.registry
        r.bind("a", "u1")
        r.bind("b", "u1")
        r.bind("a", "u2")
        self.assertEqual((r.byUid["u1"], r.byUid["u2"]), ({"b"}, {"a"}), "one uid a connection")
        r.join("a", "g")
        r.join("c", "g")
        self.assertEqual(sorted(r.targets("group", ["g"], exclude={"c"})), ["a"])
        r.remove("a")
        self.assertNotIn("u2", r.byUid)
        self.assertEqual(r.byGroup["g"], {"c"})
        r.ungroup("g")
        self.assertEqual((dict(r.byGroup), r.groupsOf.get("c")), ({}, None))
        r.unbind("b", "other")
        self.assertEqual(r.uidOf["b"], "u1")

    def test_deliver(self):
        self.assertEqual(self.registry.deliver(self.registry.targets("all"), "hé"), 3)
        self.assertEqual(self.registry.deliver(["b"], b"\x00"), 1)
        self.assertEqual(self.connections["b"].sent, [("hé".encode(), False), (b"\x00", True)])
        self.assertEqual(self.registry.targets("client", ["zz"]), [])

    def test_listsReachEachConnectionOnce(self):
        r = self.registry
        for group in ("g1", "g2"):
            r.join("a", group)
        r.join("b", "g2")
        r.bind("c", "u")
        self.assertEqual(sorted(r.targets("group", ["g1", "g2", "nobody"])), ["a", "b"])
        self.assertEqual(sorted(r.targets("uid", ["u", "v"], exclude={"a"})), ["c"])

    def test_oneMemberCannotBreakASend(self):
        r = self.registry
        r.add("closing", Connection())
        r.clients["closing"].state = WebSocketProtocol.STATE_CLOSING
        r.add("slow", Connection())
        r.clients["slow"].backedUp = True
        r.add("raising", Raising())
        everyone = r.targets("all")
        self.assertEqual(r.reachable(everyone), 4)
        self.flushLoggedErrors()
        self.assertEqual(r.deliver(everyone, "x"), 3)
        self.assertEqual(len(self.flushLoggedErrors(Disconnected)), 1)
        for clientId in "abc":
            self.assertEqual(self.connections[clientId].sent, [(b"x", False)])
        self.assertEqual(r.clients["closing"].sent + r.clients["slow"].sent, [])
        self.assertEqual((r.delivered, dict(r.skipped)),
                         (3, {"closing": 1, "backed_up": 1, "error": 1}))

    def test_setState(self):
        r = self.registry
        r.bind("a", "old")
        r.join("a", "stays")
        r.join("a", "goes")
        r.setState("a", "new", ["stays", "comes"])
        self.assertEqual(r.state("a"), ("new", ["comes", "stays"]))
        self.assertNotIn("old", r.byUid)
        self.assertNotIn("goes", r.byGroup)
        r.setState("a", None, [])
        self.assertEqual(r.state("a"), (None, []))
        self.assertEqual((dict(r.byUid), dict(r.byGroup)), ({}, {}))
