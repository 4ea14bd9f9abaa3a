from twisted.trial.unittest import TestCase

from wss_service.hub.ids import ClientIds, newNode, nodeOf


class IdsTests(TestCase):
    def test_uniqueAndNamingTheirNode(self):
        nodes = {newNode() for _ in range(100)}
        self.assertEqual(len(nodes), 100)
        ids = ClientIds(nodes.pop())
        made = [ids.next() for _ in range(1000)]
        self.assertEqual(len(set(made)), 1000)
        self.assertEqual({nodeOf(c) for c in made}, {ids.node})

    def test_notIds(self):
        for text in ["", "x", "0123456789ab", "0123456789ab-", "0123456789AB-1", "0123-1",
                     "0123456789ab-1-2", "0123456789ab-g"]:
            self.assertIsNone(nodeOf(text), text)
