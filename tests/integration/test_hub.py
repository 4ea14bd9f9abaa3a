"""
The hub end to end: a real redis-server, two twistd wss instances (as two
machines) and one with --workers 2, clients on all of them; every method
through the HTTP API, the backend client and in the app; the chat room;
faults (a killed worker, a killed instance, Redis restarted empty, Redis
away for a while); bad input on the API.
"""

import json
import os
import re
import signal
import urllib.request

from twisted.trial.unittest import TestCase

from tests.support.hub import Member, secretFile, waitFor
from tests.support.redis import RedisServer
from tests.support.service import Service, freePort
from wss_service.hub.client import HubClient, HubClientError

KEY = "k" * 32


class Cluster:
    """Redis, instances A (with the API) and B, and C with --workers 2 (unless C{workers=False})."""

    def __init__(self, testCase, app="tests.support.apps:HubProtocol", workers=True, extra=(),
                 redis=None, db=0, extraA=()):
        self.redis = redis or RedisServer(testCase)
        url = f"redis://127.0.0.1:{self.redis.port}/{db}"
        keyFile = secretFile(testCase, KEY + "\n")
        self.apiPort = freePort()
        self.ports = {}
        self.services = {}
        instances = [("A", ["--api-endpoint", f"tcp:{self.apiPort}:interface=127.0.0.1",
                            "--api-key-file", keyFile, *extraA]), ("B", [])]
        if workers:
            instances.append(("C", ["--workers", "2"]))
        for name, own in instances:
            port = freePort()
            self.ports[name] = port
            self.services[name] = Service(
                testCase, "--endpoint", f"tcp:{port}:interface=127.0.0.1", "--app", app,
                "--redis", url, *own, *extra, port=port)
        self.api = HubClient(f"http://127.0.0.1:{self.apiPort}", KEY)
        for name in ("A", "B"):
            self.services[name].waitForLog("hub on Redis at")
        if workers:
            self.workers = self.services["C"].workers(2, after="hub on Redis at")

    def url(self, name):
        return f"ws://127.0.0.1:{self.ports[name]}/wss"

    def members(self, name, count):
        return [Member(self.url(name)) for _ in range(count)]

    def bothWorkers(self, each=2):
        """C{each} members on each of C's workers."""
        members = []
        for pid in self.workers.values():
            with self.services["C"].onlyWorker(pid):
                members += self.members("C", each)
        return members

    def settled(self, count, ask="getAllClientCount"):
        """Wait until the API counts C{count} (503 while Redis comes back means: not yet)."""
        def answer():
            try:
                return getattr(self.api, ask)()
            except HubClientError as e:
                if e.status != 503:
                    raise
        return waitFor(answer, count)


class HubTests(TestCase):
    def setUp(self):
        self.cluster = Cluster(self)
        self.a = self.cluster.members("A", 2)
        self.b = self.cluster.members("B", 2)
        self.c = self.cluster.bothWorkers()
        self.everyone = self.a + self.b + self.c
        for member in self.everyone:
            self.addCleanup(member.close)
        self.assertEqual(self.cluster.settled(len(self.everyone)), len(self.everyone))

    def test_idsUniqueAndNamingTheirProcess(self):
        ids = [m.clientId for m in self.everyone]
        self.assertEqual(len(set(ids)), len(ids))
        self.assertEqual(len({m.node for m in self.everyone}), 4, "A, B and C's two workers")

    def test_uidAcrossMachinesAndWorkers(self):
        api = self.cluster.api
        phone, tab, miniProgram = self.a[0], self.b[0], self.c[0]
        for member in (phone, tab, miniProgram):
            self.assertIs(api.bindUid(member.clientId, "user-1"), True)
        self.assertEqual(api.sendToUid("user-1", "your order shipped"), {"online": 3})
        for member in (phone, tab, miniProgram):
            self.assertEqual(member.received(1), ["your order shipped"])
        for member in self.everyone:
            self.assertTrue(member.quiet(0.3), member.inbox)
        self.assertEqual(sorted(api.getClientIdsByUid("user-1")),
                         sorted(m.clientId for m in (phone, tab, miniProgram)))
        self.assertEqual(api.getUidByClientId(tab.clientId), "user-1")
        self.assertIs(api.isUidOnline("user-1"), True)
        self.assertEqual(api.getAllUidCount(), 1)
        self.assertIs(api.unbindUid(tab.clientId, "user-1"), True)
        self.assertIsNone(api.getUidByClientId(tab.clientId))
        self.assertEqual(api.sendToUid("user-1", b"\x00\xff"), {"online": 2})
        self.assertEqual(phone.received(2)[1], b"\x00\xff")
        self.assertEqual(api.sendToUid("nobody", "x"), {"online": 0})
        self.assertIs(api.isUidOnline("nobody"), False)

    def test_groupsAndAll(self):
        api = self.cluster.api
        room = [self.a[1], self.b[1], *self.c]
        for member in room:
            self.assertIs(api.joinGroup(member.clientId, "room"), True)
        self.assertEqual(api.getClientCountByGroup("room"), len(room))
        self.assertEqual(sorted(api.getClientIdsByGroup("room")),
                         sorted(m.clientId for m in room))
        answer = api.sendToGroup("room", "hi room", exclude=[self.b[1].clientId])
        self.assertEqual(answer, {"online": len(room) - 1})
        for member in room:
            expected = [] if member is self.b[1] else ["hi room"]
            if expected:
                self.assertEqual(member.received(1), expected)
            self.assertTrue(member.quiet(0.3), member.inbox)
        self.assertIs(api.leaveGroup(self.c[0].clientId, "room"), True)
        self.assertEqual(api.getClientCountByGroup("room"), len(room) - 1)
        self.assertEqual(api.ungroup("room"), len(room) - 1)
        self.assertEqual(api.getClientCountByGroup("room"), 0)
        self.assertEqual(api.sendToGroup("room", "late"), {"online": 0})

        before = {id(m): len(m.inbox) for m in self.everyone}
        answer = api.sendToAll("to all", exclude=[self.a[0].clientId])
        self.assertEqual(answer, {"online": len(self.everyone) - 1})
        for member in self.everyone:
            if member is not self.a[0]:
                self.assertEqual(member.received(before[id(member)] + 1)[-1], "to all")
            self.assertTrue(member.quiet(0.3), member.inbox)

    def test_clientsAndClosing(self):
        api = self.cluster.api
        target = self.c[-1]
        self.assertIs(api.isOnline(target.clientId), True)
        self.assertEqual(api.sendToClient(target.clientId, "just you"), {"online": 1})
        self.assertEqual(target.received(1), ["just you"])
        self.assertIs(api.closeClient(target.clientId, 4001, "bye"), True)
        self.assertRaises(Exception, target.ws.recv, 10)
        self.assertEqual(target.ws.close_code, 4001)
        self.assertIs(waitFor(lambda: api.isOnline(target.clientId), False), False)
        self.assertEqual(api.sendToClient(target.clientId, "gone"), {"online": 0})
        self.assertIs(api.closeClient(target.clientId), False)
        self.assertEqual(self.cluster.settled(len(self.everyone) - 1), len(self.everyone) - 1)

    def test_inApp(self):
        """The same calls from inside an app, on another machine than the targets."""
        caller = self.b[0]
        for member in (self.a[0], self.c[0]):
            self.assertEqual(caller.call("joinGroup", member.clientId, "app-room"),
                             {"result": True})
        self.assertEqual(caller.call("sendToGroup", "app-room", "from the app"),
                         {"result": {"online": 2}})
        for member in (self.a[0], self.c[0]):
            self.assertEqual(member.received(1), ["from the app"])
        self.assertEqual(caller.call("bindUid", caller.clientId, "me"), {"result": True})
        self.assertEqual(self.a[0].call("getClientIdsByUid", "me"),
                         {"result": [caller.clientId]})
        self.assertEqual(self.c[0].call("getAllClientCount"), {"result": len(self.everyone)})
        self.assertIn("HubError", caller.call("bindUid", "not an id", "x")["error"])
        self.assertEqual(self.a[1].call("sendToClient", self.c[1].clientId, "direct"),
                         {"result": {"online": 1}})
        self.assertEqual(self.c[1].received(1), ["direct"])

    def test_batch(self):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.cluster.apiPort}/api/batch", method="POST",
            headers={"Authorization": f"Bearer {KEY}"}, data=json.dumps({"commands": [
                {"method": "bind_uid", "params": {"client_id": self.b[0].clientId,
                                                  "uid": "u"}},
                {"method": "send_to_uid", "params": {"uid": "u", "data": "batched"}},
                {"method": "nope", "params": {}},
            ]}).encode())
        with urllib.request.urlopen(request, timeout=10) as response:
            results = json.load(response)["result"]
        self.assertEqual(results[:2], [{"result": True}, {"result": {"online": 1}}])
        self.assertEqual(results[2]["error"]["code"], "unknown_method")
        self.assertEqual(self.b[0].received(1), ["batched"])


class FaultTests(TestCase):
    def setUp(self):
        self.cluster = Cluster(self)
        self.a = self.cluster.members("A", 2)
        self.b = self.cluster.members("B", 3)
        self.c = self.cluster.bothWorkers()
        for member in self.a + self.b + self.c:
            self.addCleanup(member.close)
        self.count = len(self.a + self.b + self.c)
        self.assertEqual(self.cluster.settled(self.count), self.count)
        for member in self.a + self.b + self.c:
            self.cluster.api.bindUid(member.clientId, "everyone")

    def sendReaches(self, members):
        answer = self.cluster.api.sendToUid("everyone", "still there?")
        self.assertEqual(answer, {"online": len(members)})
        for member in members:
            self.assertEqual(member.received(len(member.inbox) + 1)[-1], "still there?")

    def test_killedWorkerAndInstanceLeavePresence(self):
        log = self.cluster.services["C"].log()
        os.kill(int(re.search(r"worker 0 started \(pid (\d+)\)", log)[1]), signal.SIGKILL)
        lost = [m for m in self.c if m.ended()]
        self.assertTrue(0 < len(lost) < len(self.c), "both workers held members")
        self.count -= len(lost)
        self.assertEqual(self.cluster.settled(self.count), self.count)
        self.cluster.services["B"].process.kill()
        self.count -= len(self.b)
        self.assertEqual(self.cluster.settled(self.count), self.count)
        self.sendReaches(self.a + [m for m in self.c if m not in lost])
        self.assertEqual(self.cluster.api.getAllUidCount(), 1)

    def test_redisRestartedEmpty(self):
        self.cluster.redis.stop()
        self.cluster.redis.start()
        self.assertEqual(self.cluster.settled(self.count), self.count)
        self.assertEqual(self.cluster.settled(1, "getAllUidCount"), 1)
        self.sendReaches(self.a + self.b + self.c)

    def test_redisAwayForAWhile(self):
        self.cluster.redis.stop()
        error = self.assertRaises(HubClientError, self.cluster.api.getAllClientCount)
        self.assertEqual((error.status, error.code), (503, "unavailable"))
        # Local work goes on: an app's send to its own process's members.
        self.assertEqual(self.a[0].call("sendToClient", self.a[1].clientId, "local"),
                         {"result": {"online": 1}})
        self.assertEqual(self.a[1].received(1), ["local"])
        self.assertIn("HubUnavailable", self.a[0].call("getAllClientCount")["error"])
        for name in ("A", "B"):
            self.cluster.services[name].waitForLog("unreachable")
        self.cluster.redis.start()
        self.assertEqual(self.cluster.settled(self.count), self.count)
        self.sendReaches(self.a + self.b + self.c)
        for name in ("A", "B"):
            log = self.cluster.services[name].log()
            self.assertEqual(log.count("unreachable"), 1, log)
            self.assertIn("is back", log)

