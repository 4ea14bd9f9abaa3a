"""The presence scripts, run by a real redis-server, one call at a time."""

import json

from twisted.trial.unittest import TestCase

from tests.support.redis import RedisServer
from wss_service.hub import presence
from wss_service.hub.presence import Presence

NODE, OTHER = "aaaaaaaaaaaa", "bbbbbbbbbbbb"


class PresenceTests(TestCase):
    def setUp(self):
        self.redis = RedisServer(self)
        self.scripts = Presence("t:")

    def script(self, name, *args):
        return self.redis.call("EVAL", getattr(self.scripts, name), 0, *args)

    def beat(self, node):
        return self.script("HEARTBEAT", node)

    def test_ownWritesBeforeTheFirstHeartbeat(self):
        # Right after start: connections held, joins made, Redis has no heartbeat yet.
        cid = f"{NODE}-1"
        self.script("REGISTER", NODE, cid)
        self.assertEqual(self.script("MEMBERSHIP", NODE, cid, "room", "", "join"), 1)
        self.assertEqual(self.script("BIND", NODE, cid, "ann", ""), 1)
        # Another process cannot change it: this one is not known to be alive yet.
        self.assertEqual(self.script("MEMBERSHIP", OTHER, cid, "other", "", "join"), 0)
        self.assertEqual(self.script("CLIENT_COUNT_BY_GROUP", "room"), 0)
        self.beat(NODE)
        self.assertEqual(self.script("CLIENT_COUNT_BY_GROUP", "room"), 1)
        self.assertEqual(self.script("UID_OF", cid), "ann")

    def test_syncMerges(self):
        clean, dirty, new, gone = (f"{NODE}-{n}" for n in (1, 2, 3, 4))
        self.beat(NODE)
        self.beat(OTHER)
        for cid in (clean, dirty, gone):
            self.script("REGISTER", NODE, cid)
            self.script("BIND", NODE, cid, "old", "")
        # Another process changed `clean` while this one could not hear.
        self.script("BIND", OTHER, clean, "changed elsewhere", "")
        self.script("MEMBERSHIP", OTHER, clean, "joined elsewhere", "", "join")
        entries = [[clean, "old", [], 0], [dirty, "local", ["mine"], 1], [new, None, ["g"], 0]]
        view = self.script("SYNC", NODE, json.dumps(entries))
        self.assertEqual(view, [[clean, "changed elsewhere", ["joined elsewhere"]]])
        self.assertEqual(self.script("UID_OF", dirty), "local")
        self.assertEqual(self.script("CLIENTS_BY_GROUP", "mine"), [dirty])
        self.assertEqual(self.script("CLIENTS_BY_GROUP", "g"), [new])
        self.assertEqual(self.script("IS_ONLINE", gone), 0)
        self.assertEqual(sorted(self.script("UIDS")), ["changed elsewhere", "local"])
        self.assertEqual(self.script("CLIENT_COUNT"), 3)

    def test_countsPerNode(self):
        self.beat(NODE)
        self.beat(OTHER)
        cids = [f"{NODE}-{n}" for n in range(3)] + [f"{OTHER}-{n}" for n in range(2)]
        for cid in cids:
            node = cid.split("-")[0]
            self.script("REGISTER", node, cid)
            self.script("MEMBERSHIP", node, cid, "g", "", "join")
            self.script("MEMBERSHIP", node, cid, "g", "", "join")  # twice: counted once
        self.assertEqual(self.redis.call("HGETALL", "t:gn:g"), [NODE, "3", OTHER, "2"])
        self.script("MEMBERSHIP", NODE, cids[0], "g", "", "leave")
        self.script("UNREGISTER", cids[1])
        self.assertEqual(self.script("CLIENT_COUNT_BY_GROUP", "g"), 3)
        # A send from NODE counts the others' members and its own (passed in).
        self.assertEqual(self.script("SEND", NODE, "group", '["g"]', '{"op":"send"}', "[]", "", 1,
                                  "[]", "x", 0), [0, 3, "[]"])
        self.assertEqual(self.script("SEND", NODE, "group", '["g"]', '{"op":"send"}',
                                  json.dumps([cids[3]]), "", 1, "[]", "x", 0)[1], 2)
        self.assertEqual(self.script("UNGROUP", NODE, "g", ""), 3)
        self.assertEqual((self.redis.call("EXISTS", "t:gn:g"), self.script("GROUPS")), (0, []))

    def test_deadNodeReapedInBatches(self):
        self.beat(OTHER)
        count = presence.REAP_BATCH * 2 + 500
        for n in range(count):
            self.script("REGISTER", OTHER, f"{OTHER}-{n:x}")
        self.script("MEMBERSHIP", OTHER, f"{OTHER}-0", "g", "", "join")
        # OTHER's heartbeat is made stale; its entries stop counting at once.
        self.redis.call("ZADD", "t:nodes", 0, OTHER)
        self.assertEqual(self.script("CLIENT_COUNT"), 0)
        self.assertEqual(self.script("CLIENT_COUNT_BY_GROUP", "g"), 0)
        beats = 0
        while self.redis.call("SCARD", f"t:n:{OTHER}"):
            self.beat(NODE)
            beats += 1
            self.assertLessEqual(beats, 3)
        self.assertEqual(beats, 3)
        self.assertEqual(self.redis.call("SMEMBERS", "t:reaping"), [])
        self.assertEqual(self.redis.call("EXISTS", "t:gn:g", "t:g:g"), 0)
