from twisted.trial.unittest import TestCase

from wss_service.hub.local import Registry


class Connection:
    def __init__(self):
        self.sent = []

    def sendMessage(self, payload, isBinary):
        self.sent.append((payload, isBinary))


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
        self.assertEqual(sorted(r.targets("group", "g", exclude={"c"})), ["a"])
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
        self.assertEqual(self.registry.targets("client", "zz"), [])
