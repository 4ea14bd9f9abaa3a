"""
The hub off the happy path, with a real redis-server and real twistd wss
instances: a member that never answers the close, two deployments on one
Redis, Redis hung (SIGSTOP), the subscriber cut (CLIENT KILL, the output
buffer limit) while another process changes what this one holds, an
instance stalled past the reap time, bad names, Redis's work per send as the
audience grows, and idempotent sends.
"""

import signal
import socket
import statistics
import time

from twisted.trial.unittest import TestCase

from tests.integration.test_hub import Cluster
from tests.integration.test_hub_edges import post
from tests.integration.test_operations import get
from tests.integration.test_workers import figures
from tests.support.handshake import request
from tests.support.hub import Mute, waitFor
from tests.support.redis import RedisServer
from tests.support.service import freePort
from wss_service.hub.client import HubClientError

PATIENT = "tests.support.apps:PatientHubProtocol"


def reached(members, text):
    """Each member gets C{text} (next to what it had); its inbox up to it is consumed."""
    for member in members:
        deadline = time.monotonic() + 10
        while text not in member.inbox:
            member.inbox.append(member.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if member.inbox.count(text) != 1:
            raise AssertionError(f"{member.clientId} got {text!r} twice: {member.inbox}")
        del member.inbox[:member.inbox.index(text) + 1]


class ClosingMemberTests(TestCase):
    """A member the service closed, whose client never answers (out of coverage, a drain)."""

    def closeAndWait(self, cluster, mute):
        self.assertIs(cluster.api.closeClient(mute.clientId), True)
        # It leaves presence as soon as the close is sent, not when it ends.
        self.assertIs(waitFor(lambda: cluster.api.isOnline(mute.clientId), False), False)

    def test_sameProcess(self):
        cluster = Cluster(self, app=PATIENT, workers=False)
        members = cluster.members("A", 2)
        mute = Mute(cluster.ports["A"])
        self.addCleanup(mute.close)
        for clientId in [m.clientId for m in members] + [mute.clientId]:
            cluster.api.joinGroup(clientId, "room")
        self.closeAndWait(cluster, mute)
        self.assertEqual(cluster.api.sendToGroup("room", "from the API"), {"online": 2})
        reached(members, "from the API")
        self.assertEqual(members[0].call("sendToGroup", "room", "from the app"),
                         {"result": {"online": 2}})
        reached(members, "from the app")
        self.assertEqual(cluster.api.sendToAll("all"), {"online": 2})
        reached(members, "all")
        self.assertEqual(cluster.api.getClientCountByGroup("room"), 2)
        self.assertNotIn("Traceback", cluster.services["A"].log())

    def test_onAnotherInstance(self):
        cluster = Cluster(self, app=PATIENT, workers=False)
        onA = cluster.members("A", 1)
        onB = cluster.members("B", 3)
        mute = Mute(cluster.ports["B"])
        self.addCleanup(mute.close)
        for clientId in [m.clientId for m in onA + onB] + [mute.clientId]:
            cluster.api.joinGroup(clientId, "room")
        self.closeAndWait(cluster, mute)
        for attempt in range(3):
            self.assertEqual(cluster.api.sendToGroup("room", f"send {attempt}"), {"online": 4})
            reached(onA + onB, f"send {attempt}")
        self.assertEqual(onA[0].call("sendToAll", "from A's app"), {"result": {"online": 4}})
        reached(onA + onB, "from A's app")
        self.assertNotIn("Traceback", cluster.services["B"].log())


class DeploymentsTests(TestCase):
    def test_twoDeploymentsOnOneRedis(self):
        redis = RedisServer(self)
        production = Cluster(self, workers=False, redis=redis)
        staging = Cluster(self, workers=False, redis=redis, db=1)
        # A third on db 0 again, kept apart by its own prefix.
        preview = Cluster(self, workers=False, redis=redis, extra=["--redis-prefix", "preview:"])
        members = {}
        for name, cluster, count in [("production", production, 3), ("staging", staging, 2),
                                     ("preview", preview, 1)]:
            members[name] = cluster.members("A", count - 1) + cluster.members("B", 1)
            for member in members[name]:
                cluster.api.bindUid(member.clientId, "same-user")
                cluster.api.joinGroup(member.clientId, "same-group")
        for name, cluster in [("production", production), ("staging", staging),
                              ("preview", preview)]:
            count = len(members[name])
            self.assertEqual(cluster.api.sendToAll(f"all {name}"), {"online": count})
            self.assertEqual(cluster.api.sendToUid("same-user", f"uid {name}"), {"online": count})
            self.assertEqual(cluster.api.sendToGroup("same-group", f"group {name}"),
                             {"online": count})
            reached(members[name], f"all {name}")
            reached(members[name], f"uid {name}")
            reached(members[name], f"group {name}")
            self.assertEqual(cluster.api.getAllClientCount(), count)
            self.assertEqual(cluster.api.getClientCountByGroup("same-group"), count)
        for member in sum(members.values(), []):
            self.assertTrue(member.quiet(0.3), member.inbox)


class RedisHungTests(TestCase):
    def setUp(self):
        self.metricsPort = freePort()
        self.cluster = Cluster(self, workers=False, extraA=[
            "--metrics-endpoint", f"tcp:{self.metricsPort}:interface=127.0.0.1"])
        self.a = self.cluster.members("A", 2)
        self.b = self.cluster.members("B", 2)
        self.assertEqual(self.cluster.settled(4), 4)

    def health(self, path):
        return get(f"http://127.0.0.1:{self.metricsPort}{path}")

    def test_stoppedAndResumed(self):
        cluster = self.cluster
        cluster.redis.pause()
        # Answered, not hung: 503 well within the client's 10 s.
        error = self.assertRaises(HubClientError, cluster.api.getAllClientCount)
        self.assertEqual((error.status, error.code), (503, "unavailable"))
        self.assertIn("HubUnavailable", self.a[0].call("getAllClientCount")["error"])
        # Local work goes on.
        self.assertEqual(self.a[0].call("sendToClient", self.a[1].clientId, "local"),
                         {"result": {"online": 1}})
        self.assertEqual(self.a[1].received(1), ["local"])
        self.assertEqual(waitFor(lambda: self.health("/readyz")[0], 503), 503)
        status, body = self.health("/healthz")
        self.assertEqual(status, 200)
        self.assertIn("redis: down", body)
        page = figures(self.health("/metrics")[1])
        self.assertEqual(page["wss_hub_redis_up"], 0)
        self.assertGreater(page["wss_hub_redis_errors_total"], 0)

        cluster.redis.resume()
        self.assertEqual(waitFor(lambda: self.health("/readyz")[0], 200), 200)
        self.assertEqual(cluster.settled(4), 4)
        self.assertEqual(cluster.api.sendToAll("back"), {"online": 4})
        reached(self.a + self.b, "back")
        self.assertEqual(self.health("/healthz")[1], "ok\nredis: up\nsubscriber: up\n")
        page = figures(self.health("/metrics")[1])
        self.assertEqual(page["wss_hub_redis_up"], 1)
        self.assertGreaterEqual(page["wss_hub_subscriber_resyncs_total"], 1)
        self.assertGreaterEqual(page["wss_hub_deliveries_total"], 3)

    def test_shutdownDoesNotWaitOnAHungRedis(self):
        self.cluster.redis.pause()
        service = self.cluster.services["B"]
        service.process.send_signal(signal.SIGTERM)
        # The drain (10 s at most by default) and a bounded goodbye to Redis.
        service.process.wait(25)


class SubscriberCutTests(TestCase):
    """
    The subscriber connection is cut, and while it cannot come back (Redis
    refuses new connections: maxclients) another process changes what this
    one holds. Once it is back, the change stands.
    """

    def setUp(self):
        self.cluster = Cluster(self, workers=False)
        self.redis = self.cluster.redis
        self.onB = self.cluster.members("B", 2)
        self.target = self.onB[0]
        self.cluster.api.bindUid(self.target.clientId, "old")
        self.cluster.api.joinGroup(self.target.clientId, "kept")

    def holdOff(self):
        """Refuse new connections until L{letIn}."""
        self.redis.call("CONFIG", "SET", "maxclients", "1")

    def letIn(self):
        self.redis.call("CONFIG", "SET", "maxclients", "10000")

    def changeInTheGapThenCheck(self):
        api, service = self.cluster.api, self.cluster.services["B"]
        service.waitForLog("unreachable")
        synced = service.log().count("presence re-synced")
        self.assertIs(api.bindUid(self.target.clientId, "new"), True)
        self.assertIs(api.joinGroup(self.target.clientId, "joined"), True)
        self.letIn()
        deadline = time.monotonic() + 15
        while service.log().count("presence re-synced") == synced:
            self.assertLess(time.monotonic(), deadline, service.log())
            time.sleep(0.05)
        self.assertEqual(api.getUidByClientId(self.target.clientId), "new")
        self.assertEqual(api.sendToUid("old", "x"), {"online": 0})
        # B itself knows: sends are delivered by B's own registry.
        self.assertEqual(api.sendToUid("new", "to new"), {"online": 1})
        reached([self.target], "to new")
        for group in ("kept", "joined"):
            self.assertEqual(api.sendToGroup(group, group), {"online": 1})
            reached([self.target], group)
        self.assertEqual(api.getAllClientCount(), 2)
        self.assertEqual(api.sendToAll("everyone"), {"online": 2})
        reached(self.onB, "everyone")

    def test_clientKill(self):
        self.holdOff()
        self.assertEqual(self.redis.call("CLIENT", "KILL", "TYPE", "pubsub"), 2)
        self.changeInTheGapThenCheck()

    def test_outputBufferLimit(self):
        self.redis.call("CONFIG", "SET", "client-output-buffer-limit", "pubsub 64kb 0 0")
        self.holdOff()
        # More than the limit at once: Redis cuts B's subscriber.
        self.assertEqual(self.cluster.api.sendToGroup("kept", "x" * 200_000), {"online": 1})
        self.changeInTheGapThenCheck()


class StalledInstanceTests(TestCase):
    def test_stalledPastTheReapTime(self):
        cluster = Cluster(self, workers=False)
        onA = cluster.members("A", 1)
        onB = cluster.members("B", 2)
        for member in onA + onB:
            cluster.api.bindUid(member.clientId, "user")
        process = cluster.services["B"].process
        process.send_signal(signal.SIGSTOP)
        try:
            # Taken for dead (no heartbeat for 5 s) and reaped.
            self.assertEqual(cluster.settled(1), 1)
            self.assertEqual(cluster.api.sendToUid("user", "while away"), {"online": 1})
        finally:
            process.send_signal(signal.SIGCONT)
        reached(onA, "while away")
        self.assertEqual(cluster.settled(3), 3)
        self.assertEqual(cluster.api.sendToUid("user", "back"), {"online": 3})
        reached(onA + onB, "back")


class BadNamesTests(TestCase):
    def test_refusedBeforeAnythingChanges(self):
        cluster = Cluster(self, workers=False)
        member = cluster.members("A", 1)[0]
        other = cluster.members("B", 1)[0]
        cluster.api.bindUid(member.clientId, "good")
        surrogate = b'"room-\\ud800"'
        for method, body in [
            ("join_group", b'{"client_id": "%s", "group": %s}' % (member.clientId.encode(),
                                                                 surrogate)),
            ("join_group", b'{"client_id": "%s", "group": %s}' % (other.clientId.encode(),
                                                                 surrogate)),
            ("bind_uid", b'{"client_id": "%s", "uid": ""}' % member.clientId.encode()),
            ("bind_uid", b'{"client_id": "%s", "uid": "%s"}' % (member.clientId.encode(),
                                                               b"u" * 5000)),
            ("send_to_group", b'{"group": %s, "data": "x"}' % surrogate),
            ("send_to_uid", b'{"uid": ["good", %s], "data": "x"}' % surrogate),
            ("set_session", b'{"client_id": "%s", "session": {"k": %s}}' % (
                member.clientId.encode(), surrogate)),
        ]:
            status, answer = post(cluster.apiPort, f"/api/{method}", body)
            self.assertEqual((status, answer["error"]["code"]), (400, "bad_request"),
                             (method, body, answer))
        self.assertIn("HubError", member.call("joinGroup", member.clientId,
                                              "room-\ud800")["error"])
        self.assertIn("HubError", member.call("bindUid", member.clientId, "x" * 257)["error"])
        # Nothing changed, and a resync (the subscribers cut) loses nothing.
        cluster.redis.call("CLIENT", "KILL", "TYPE", "pubsub")
        for name in ("A", "B"):
            cluster.services[name].waitForLog("presence re-synced")
        self.assertEqual(cluster.api.getAllGroupIdList(), [])
        self.assertEqual(cluster.api.getAllUidList(), ["good"])
        self.assertEqual(cluster.settled(2), 2)
        self.assertEqual(cluster.api.sendToUid("good", "fine"), {"online": 1})
        self.assertEqual(member.received(1), ["fine"])
        for name in ("A", "B"):
            self.assertNotIn("Traceback", cluster.services[name].log())


def grow(sockets, cluster, count, batch=40):
    """
    Open connections to B's chat room that never read, until C{sockets}
    holds C{count}; a batch at a time (the listening backlog is 50).
    """
    while len(sockets) < count:
        for _ in range(min(batch, count - len(sockets))):
            sock = socket.create_connection(("127.0.0.1", cluster.ports["B"]), timeout=10)
            sock.sendall(request())
            sockets.append(sock)
        opened = waitFor(lambda: cluster.api.getClientCountByGroup("chat"), len(sockets))
        assert opened == len(sockets), f"{opened} of {len(sockets)} in the room"


class CostPerSendTests(TestCase):
    def sendTimes(self, count=40):
        """
        Redis's own time for each of C{count} sends to the chat group
        (median, microseconds, from its slow log), and the commands Redis ran
        per send (from INFO commandstats).
        """
        redis, api = self.cluster.redis, self.cluster.api
        redis.call("CONFIG", "SET", "slowlog-log-slower-than", "0")
        redis.call("CONFIG", "SET", "slowlog-max-len", "100000")
        redis.call("SLOWLOG", "RESET")
        before = sum(redis.commandCalls().values())
        for _ in range(count):
            api.sendToGroup("chat", "x")
        calls = sum(redis.commandCalls().values()) - before
        log = redis.call("SLOWLOG", "GET", "100000")
        redis.call("CONFIG", "SET", "slowlog-log-slower-than", "10000")
        sends = [entry[2] for entry in log
                 if entry[3][0].lower() in ("evalsha", "eval") and "group" in entry[3]]
        self.assertGreaterEqual(len(sends), count)
        return statistics.median(sends), calls / count

    def test_independentOfTheAudience(self):
        self.cluster = Cluster(self, app="wss_service.apps:ChatProtocol", workers=False,
                               extra=["--max-connections-per-ip", "0"])
        api, sockets = self.cluster.api, []
        self.addCleanup(lambda: [s.close() for s in sockets])
        grow(sockets, self.cluster, 4)
        small = self.sendTimes()
        grow(sockets, self.cluster, 1500)
        large = self.sendTimes()
        self.assertEqual(api.sendToGroup("chat", "y"), {"online": 1500})
        figures = f"4 members: {small}, 1,500 members: {large} (median us, commands a send)"
        self.assertLessEqual(large[0], 3 * small[0], figures)
        self.assertLessEqual(large[1], 3 * small[1], figures)


class IdempotencyTests(TestCase):
    def test_acrossInstances(self):
        cluster = Cluster(self, workers=False)
        members = cluster.members("A", 1) + cluster.members("B", 1)
        for member in members:
            cluster.api.joinGroup(member.clientId, "orders")
        self.assertEqual(cluster.api.sendToGroup("orders", "order 1 shipped",
                                                 idempotencyKey="order-1"), {"online": 2})
        reached(members, "order 1 shipped")
        # A retry through the other instance, from its app: the first answer, no delivery.
        self.assertEqual(members[1].call("sendToGroup", "orders", "order 1 shipped",
                                         idempotencyKey="order-1"), {"result": {"online": 2}})
        self.assertEqual(cluster.api.sendToUid("nobody", "x", idempotencyKey="order-1"),
                         {"online": 2})
        for member in members:
            self.assertTrue(member.quiet(0.5), member.inbox)
        self.assertEqual(cluster.api.sendToGroup("orders", "order 2", idempotencyKey="order-2"),
                         {"online": 2})
        reached(members, "order 2")


class GatewayWorkerCallsTests(TestCase):
    def test_everyCallThroughTheClientAndTheApp(self):
        cluster = Cluster(self, workers=False)
        api = cluster.api
        a, b = cluster.members("A", 2), cluster.members("B", 1)
        for member, uid, groups in [(a[0], "ann", ["g1"]), (a[1], "bob", ["g1", "g2"]),
                                    (b[0], "bob", ["g2"])]:
            api.bindUid(member.clientId, uid)
            for group in groups:
                b[0].call("joinGroup", member.clientId, group)
        for ask in (lambda method, *args: getattr(api, method)(*args),
                    lambda method, *args: b[0].call(method, *args)["result"]):
            self.assertEqual(sorted(ask("getAllUidList")), ["ann", "bob"])
            self.assertEqual(sorted(ask("getAllGroupIdList")), ["g1", "g2"])
            self.assertEqual(sorted(ask("getUidListByGroup", "g1")), ["ann", "bob"])
            self.assertEqual(ask("getUidCountByGroup", "g2"), 1)
            self.assertEqual(ask("getClientCountByGroup", "g1"), 2)
        # Lists: each connection once (here a[1] is in both groups).
        self.assertEqual(api.sendToGroup(["g1", "g2"], "groups"), {"online": 3})
        reached(a + b, "groups")
        self.assertEqual(a[0].call("sendToUid", ["ann", "bob", "nobody"], "uids"),
                         {"result": {"online": 3}})
        reached(a + b, "uids")
        for member in a + b:
            self.assertTrue(member.quiet(0.3), member.inbox)
        # Sessions: set in one process's app, read and merged from the other and the API.
        self.assertEqual(a[0].call("setSession", a[0].clientId, {"name": "ann", "n": 1}),
                         {"result": True})
        self.assertEqual(b[0].call("updateSession", a[0].clientId, {"n": 2}), {"result": True})
        self.assertEqual(api.getSession(a[0].clientId), {"name": "ann", "n": 2})
        self.assertIs(api.setSession(b[0].clientId, {"cart": [1, 2]}), True)
        self.assertEqual(a[1].call("getSession", b[0].clientId),
                         {"result": {"cart": [1, 2]}})
        self.assertEqual(api.getSession(a[1].clientId), {})
        # A session ends with its connection.
        a[0].close()
        self.assertEqual(waitFor(lambda: api.isOnline(a[0].clientId), False), False)
        error = self.assertRaises(HubClientError, api.getSession, a[0].clientId)
        self.assertEqual(error.status, 404)
