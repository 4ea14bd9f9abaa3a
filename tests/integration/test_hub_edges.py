"""
The hub's edges with real processes: bad API input, identity from a JWT,
the refusals without --redis, the chat room, and a browser receiving a push
from the backend.
"""

import json
import threading
import time
import urllib.error
import urllib.request

import jwt
from twisted.trial.unittest import TestCase

from tests.integration.test_hub import KEY, Cluster
from tests.support.browser import Browser
from tests.support.clients import connection
from tests.support.hub import Member, secretFile, waitFor
from tests.support.pki import PKI
from tests.support.redis import RedisServer
from tests.support.service import Service, freePort, runTwistd
from wss_service.hub.client import HubClient

SECRET = "s" * 40


def post(port, path, body, headers=None, key=KEY, method="POST"):
    """The API's status and JSON answer for a raw request."""
    headers = dict(headers or {})
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                     headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


class APIBadInputTests(TestCase):
    def setUp(self):
        keyFile = secretFile(self, KEY)
        self.port, self.apiPort = freePort(), freePort()
        # One process, no Redis: the in-memory hub.
        self.service = Service(self, "--endpoint", f"tcp:{self.port}:interface=127.0.0.1",
                               "--app", "tests.support.apps:HubProtocol",
                               "--api-endpoint", f"tcp:{self.apiPort}:interface=127.0.0.1",
                               "--api-key-file", keyFile, port=self.port)
        self.bystander = Member(f"ws://127.0.0.1:{self.port}/wss")
        self.addCleanup(self.bystander.close)

    def assertRefused(self, status, code, path="/api/send_to_uid", body=b'{"uid": "u", '
                      b'"data": "x"}', **options):
        answer = post(self.apiPort, path, body, **options)
        self.assertEqual((answer[0], answer[1]["error"]["code"]), (status, code), answer)
        return answer[1]["error"]["message"]

    def test_each(self):
        self.assertRefused(401, "unauthorized", key=None)
        self.assertRefused(401, "unauthorized", key="wrong" * 8)
        self.assertRefused(404, "unknown_method", path="/api/send_to_everybody")
        self.assertRefused(404, "unknown_method", path="/other")
        self.assertRefused(405, "method_not_allowed", body=None, method="GET")
        self.assertIn("not JSON", self.assertRefused(400, "bad_request", body=b"{nope"))
        self.assertRefused(400, "bad_request", body=b"[1, 2]")
        self.assertIn("uid must be text", self.assertRefused(
            400, "bad_request", body=b'{"uid": 7, "data": "x"}'))
        self.assertIn("group must be text", self.assertRefused(
            400, "bad_request", path="/api/get_client_ids_by_group", body=b'{"group": ["a"]}'))
        self.assertIn("data (text) or data_base64", self.assertRefused(
            400, "bad_request", body=b'{"uid": "u"}'))
        self.assertIn("not base64", self.assertRefused(
            400, "bad_request", body=b'{"uid": "u", "data_base64": "%%%"}'))
        self.assertIn("takes no 'colour'", self.assertRefused(
            400, "bad_request", body=b'{"uid": "u", "data": "x", "colour": 1}'))
        self.assertIn("needs 'uid'", self.assertRefused(400, "bad_request", body=b'{"data": "x"}'))
        self.assertIn("not a client id", self.assertRefused(
            400, "bad_request", path="/api/bind_uid", body=b'{"client_id": "x", "uid": "u"}'))
        self.assertIn("is not online", self.assertRefused(
            404, "not_found", path="/api/bind_uid",
            body=b'{"client_id": "0123456789ab-1", "uid": "u"}'))
        self.assertIn("code must be 1000 or 3000-4999", self.assertRefused(
            400, "bad_request", path="/api/close_client",
            body=json.dumps({"client_id": self.bystander.clientId, "code": 1001}).encode()))
        self.assertRefused(413, "too_large", body=b'{"uid": "u", "data": "' + b"x" * (2 << 20)
                           + b'"}')
        # Nothing else was harmed: the bystander is reached, the API answers.
        api = HubClient(f"http://127.0.0.1:{self.apiPort}", KEY)
        self.assertIs(api.bindUid(self.bystander.clientId, "u"), True)
        self.assertEqual(api.sendToUid("u", "fine"), {"online": 1})
        self.assertEqual(self.bystander.received(1), ["fine"])
        self.assertNotIn("Traceback", self.service.log())

    def test_startRefusals(self):
        for fragment, arguments in [
            ("--api-endpoint needs --api-key-file", ["--api-endpoint", "tcp:0"]),
            ("--api-endpoint with --workers needs --redis",
             ["--workers", "2", "--api-endpoint", "tcp:0", "--api-key-file", "/dev/null"]),
            ("is not a redis:// URL", ["--redis", "http://127.0.0.1"]),
            ("--redis-prefix 'a b': use 1 to 64 letters", ["--redis", "redis://127.0.0.1/0",
                                                           "--redis-prefix", "a b"]),
            ("--redis-prefix needs --redis", ["--redis-prefix", "x:"]),
            ("--jwt-audience needs --jwt-key-file", ["--jwt-audience", "app"]),
            ("cannot read --jwt-key-file", ["--jwt-key-file", "/nonexistent"]),
            ("holds a key of 0 characters", ["--api-endpoint", "tcp:0",
                                             "--api-key-file", "/dev/null"]),
        ]:
            result = runTwistd(*arguments)
            self.assertNotEqual(result.returncode, 0)
            lines = result.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, result.stderr)
            self.assertIn(fragment, lines[0])

    def test_workersWithoutRedisRefuseHubCalls(self):
        port = freePort()
        Service(self, "--workers", "2", "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                "--app", "tests.support.apps:HubProtocol", port=port)
        member = Member(f"ws://127.0.0.1:{port}/wss")
        self.addCleanup(member.close)
        answer = member.call("sendToAll", "x")
        self.assertIn("HubUnavailable: with --workers the hub needs --redis", answer["error"])


class TokenTests(TestCase):
    def setUp(self):
        jwtKeyFile = secretFile(self, SECRET)
        keyFile = secretFile(self, KEY)
        self.port, self.apiPort = freePort(), freePort()
        self.service = Service(self, "--endpoint", f"tcp:{self.port}:interface=127.0.0.1",
                               "--app", "tests.support.apps:HubProtocol",
                               "--jwt-key-file", jwtKeyFile,
                               "--api-endpoint", f"tcp:{self.apiPort}:interface=127.0.0.1",
                               "--api-key-file", keyFile, port=self.port)
        self.api = HubClient(f"http://127.0.0.1:{self.apiPort}", KEY)

    def url(self, **claims):
        token = jwt.encode({"exp": time.time() + 60, **claims}, SECRET, algorithm="HS256")
        return f"ws://127.0.0.1:{self.port}/wss?token={token}"

    def test_goodTokenBindsAndJoins(self):
        member = Member(self.url(sub="user-7", groups=["vip", "cn"]))
        self.addCleanup(member.close)
        self.assertEqual(waitFor(lambda: self.api.getClientIdsByUid("user-7"),
                                 [member.clientId]), [member.clientId])
        self.assertEqual(self.api.getClientIdsByGroup("vip"), [member.clientId])
        self.assertEqual(self.api.sendToGroup("cn", "hi"), {"online": 1})
        self.assertEqual(member.received(1), ["hi"])

    def test_refusedBeforeTheApp(self):
        # Expired past the 30 s of clock skew allowed.
        expired = jwt.encode({"sub": "u", "exp": time.time() - 60}, SECRET, algorithm="HS256")
        forged = jwt.encode({"sub": "u", "exp": time.time() + 60}, "x" * 40, algorithm="HS256")
        base = f"ws://127.0.0.1:{self.port}/wss"
        for url in [base, f"{base}?token=garbage", f"{base}?token={expired}",
                    f"{base}?token={forged}", self.url(sub=5), self.url(sub=""),
                    self.url(sub="u" * 5000), self.url(sub="room-\ud800"),
                    self.url(sub="u", groups=["room-\udfff"])]:
            error = self.assertRaises(Exception, connection, url)
            self.assertIn("401", str(error), f"{url}: {error!r}")
        self.assertEqual(self.api.getAllClientCount(), 0)


class TokenClaimTests(TestCase):
    def test_audienceIssuerAndLeeway(self):
        port = freePort()
        Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                "--app", "tests.support.apps:HubProtocol",
                "--jwt-key-file", secretFile(self, SECRET), "--jwt-audience", "my-app",
                "--jwt-issuer", "https://id.example/", port=port)

        def url(**claims):
            claims = {"sub": "u", "aud": "my-app", "iss": "https://id.example/",
                      "exp": time.time() + 60, **claims}
            return f"ws://127.0.0.1:{port}/wss?token={jwt.encode(claims, SECRET)}"
        # Expired 10 s ago by a clock a little ahead of ours: within the leeway.
        for good in [url(), url(aud=["other", "my-app"]), url(exp=time.time() - 10)]:
            Member(good).close()
        for bad in [url(aud="other-app"), url(iss="https://evil.example/"),
                    url(exp=time.time() - 60)]:
            error = self.assertRaises(Exception, connection, bad)
            self.assertIn("401", str(error))


class ChatTests(TestCase):
    def test_everyMemberGetsEveryMessageOnce(self):
        cluster = Cluster(self, app="wss_service.apps:ChatProtocol")
        members = cluster.members("A", 2) + cluster.members("B", 3) + cluster.bothWorkers()
        for member in members:
            self.addCleanup(member.close)
        self.assertEqual(cluster.settled(len(members), "getAllClientCount"), len(members))
        self.assertEqual(waitFor(lambda: cluster.api.getClientCountByGroup("chat"),
                                 len(members)), len(members))
        for index, member in enumerate(members):
            member.ws.send(f"message {index}")
        expected = sorted(f"message {i}" for i in range(len(members)))
        for member in members:
            got = [json.loads(m) for m in member.received(len(members))]
            self.assertEqual(sorted(m["text"] for m in got), expected)
            self.assertTrue(member.quiet(0.5), member.inbox)
            # In order per sender and target: one message each here.
            self.assertEqual({m["from"] for m in got}, {m.clientId for m in members})


class BrowserPushTests(TestCase):
    def test_classicSnippetGetsABackendPush(self):
        redis = RedisServer(self)
        keyFile = secretFile(self, KEY)
        port, apiPort = freePort(), freePort()
        Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1", "--redis", redis.url,
                "--api-endpoint", f"tcp:{apiPort}:interface=127.0.0.1",
                "--api-key-file", keyFile, port=port)
        browser = Browser(self, PKI(self.mktemp()).path("ca.pem"))
        api = HubClient(f"http://127.0.0.1:{apiPort}", KEY)
        answers = []
        # The classic snippet: send "tom", get "ok"; then a push from the backend.
        page = threading.Thread(target=lambda: answers.append(browser.evaluate("""
            new Promise((resolve, reject) => {
                var got = [];
                var ws = new WebSocket("ws://127.0.0.1:%d/wss");
                ws.onopen = function () { ws.send('tom'); };
                ws.onmessage = function (e) { got.push(e.data); if (got.length == 2) resolve(got); };
                ws.onerror = function () { reject('WebSocket error'); };
                setTimeout(function () { reject('timeout: ' + got); }, 20000);
            })""" % port)))
        page.start()
        self.assertEqual(waitFor(api.getAllClientCount, 1), 1)
        self.assertEqual(api.sendToAll("pushed from the backend"), {"online": 1})
        page.join(30)
        # The push and the answer to "tom" may come in either order.
        self.assertEqual([sorted(a) for a in answers], [["ok", "pushed from the backend"]])
