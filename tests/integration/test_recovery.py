"""
Nothing missed across a reconnect, with real processes and a real
redis-server: a wss-hub.v1 client away while messages go to its group and
its uid gets them all on another instance, in order and once; also after the
instance that held it was SIGKILLed; after Redis restarted empty it is told
(recovered false); a gap larger than the history is counted; a client
without the subprotocol sees what it always saw; a bad resume is refused.
"""

import time

import jwt
from twisted.trial.unittest import TestCase

from tests.integration.test_hub import Cluster
from tests.support.clients import connection
from tests.support.hub import Member, Subscriber, secretFile
from wss_service.hub.client import HubClientError

SECRET = "r" * 40
SIZE = 10


def hasRecovered(*streams):
    return lambda frames: {f.get("stream") for f in frames if f["type"] == "recovered"} >= set(
        streams)


def hasPositions(*streams):
    return lambda frames: {f.get("stream") for f in frames if f["type"] == "position"} >= set(
        streams)


class RecoveryTests(TestCase):
    def setUp(self):
        self.cluster = Cluster(self, workers=False, extra=[
            "--jwt-key-file", secretFile(self, SECRET), "--history", "group:*",
            "--history", "uid:*", "--history-size", str(SIZE)])
        self.api = self.cluster.api

    def url(self, instance, sub="ann", groups=("room",)):
        token = jwt.encode({"sub": sub, "groups": list(groups), "exp": time.time() + 600},
                           SECRET)
        return f"ws://127.0.0.1:{self.cluster.ports[instance]}/wss?token={token}"

    def subscriber(self, instance, resume=None):
        client = Subscriber(self.url(instance), resume)
        self.addCleanup(client.close)
        return client

    def awayThenBack(self, before, after, kill=None):
        """
        A client on C{before} goes away (or its instance is killed); 5
        messages go to its group and 2 to its uid; it comes back on C{after}.
        """
        first = self.subscriber(before)
        first.until(hasPositions("uid:ann", "group:room"))
        self.assertEqual(self.api.sendToGroup("room", "seen"), {"online": 1})
        first.until(lambda frames: "seen" in first.messages())
        if kill:
            self.cluster.services[before].process.kill()
            self.cluster.services[before].process.wait()
            self.assertEqual(self.cluster.settled(0), 0)
        else:
            first.close()
        for i in range(5):
            self.api.sendToGroup("room", f"group {i}")
        for i in range(2):
            self.api.sendToUid("ann", f"uid {i}")
        back = self.subscriber(after, first.positions)
        back.until(hasRecovered("uid:ann", "group:room"))
        # In the order they were sent, across both streams.
        self.assertEqual([f["data"] for f in back.frames if "stream" in f and f["type"] ==
                          "message"], [f"group {i}" for i in range(5)] + ["uid 0", "uid 1"])
        recovered = back.recovered()
        self.assertEqual({s: (f["recovered"], f["missed"], f["lost"]) for s, f in
                          recovered.items()}, {"group:room": (True, 5, 0),
                                               "uid:ann": (True, 2, 0)})
        # Each once: live messages continue right after.
        self.api.sendToGroup("room", "live")
        back.until(lambda frames: "live" in back.messages())
        self.assertEqual(back.messages("group:room"), [f"group {i}" for i in range(5)] + ["live"])
        return back

    def test_onAnotherInstance(self):
        self.awayThenBack("A", "B")

    def test_afterTheInstanceWasKilled(self):
        self.awayThenBack("B", "A", kill=True)

    def test_redisRestartedEmpty(self):
        first = self.subscriber("A")
        first.until(hasPositions("uid:ann", "group:room"))
        self.api.sendToGroup("room", "seen")
        first.until(lambda frames: "seen" in first.messages())
        first.close()
        self.cluster.redis.stop()
        self.cluster.redis.start()
        self.assertEqual(self.cluster.settled(0), 0)
        back = self.subscriber("B", first.positions)
        back.until(hasRecovered("uid:ann", "group:room"))
        for stream, frame in back.recovered().items():
            self.assertEqual((frame["recovered"], frame["missed"], frame["lost"]),
                             (False, None, None), stream)
            self.assertNotEqual(frame["epoch"], first.positions[stream]["epoch"])

    def test_gapLargerThanTheHistory(self):
        first = self.subscriber("A")
        first.until(hasPositions("group:room"))
        first.close()
        for i in range(SIZE + 3):
            self.api.sendToGroup("room", f"m{i}")
        back = self.subscriber("B", first.positions)
        back.until(hasRecovered("group:room"))
        frame = back.recovered()["group:room"]
        self.assertEqual((frame["recovered"], frame["missed"], frame["lost"]),
                         (False, SIZE + 3, 3))
        self.assertEqual(back.messages("group:room"), [f"m{i}" for i in range(3, SIZE + 3)])
        history = self.api.getHistory("group:room", since=SIZE)
        self.assertEqual([m["data"] for m in history["messages"]],
                         [f"m{i}" for i in range(SIZE, SIZE + 3)])

    def test_plainClientUnchanged(self):
        plain = Member(self.url("A"))
        self.addCleanup(plain.close)
        self.assertEqual(self.api.sendToGroup("room", "as always"), {"online": 1})
        self.assertEqual(plain.received(1), ["as always"])

    def test_badResumeRefused(self):
        for bad in ["%%%", "bm90IGpzb24", "W10"]:
            error = self.assertRaises(Exception, connection, self.url("A") + "&resume=" + bad,
                                      subprotocols=["wss-hub.v1"])
            self.assertIn("400", str(error))
        error = self.assertRaises(HubClientError, self.api.getHistory, "group:room", since=-1)
        self.assertEqual(error.status, 400)
        error = self.assertRaises(HubClientError, self.api.getHistory, "all")
        self.assertEqual(error.status, 404)
        for name in ("A", "B"):
            self.assertNotIn("Traceback", self.cluster.services[name].log())
