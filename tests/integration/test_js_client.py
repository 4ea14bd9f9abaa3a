"""
clients/js/wss-client.js in headless Chromium against the real service with
Redis, direct and through the contrib nginx: whatever cuts the connection
(the network under it, its worker killed, close_client, the service
restarted) while messages are sent, the page ends with every message once,
in order. The WeChat path runs with a stand-in for the mini program's `wx`
over the browser's WebSocket: only the platform API is stood in for, the
service and the client are the real ones.
"""

import json
import os
import signal
import time

import jwt
from twisted.trial.unittest import TestCase

from tests.integration.test_hub import Cluster
from tests.support import proxies
from tests.support.browser import Browser
from tests.support.hub import secretFile
from tests.support.pki import PKI
from tests.support.service import REPO, Service, freePort

SECRET = "j" * 40
CLIENT = os.path.join(REPO, "clients", "js", "wss-client.js")

# A page that keeps what the client emits. URL, TOKEN and OPTIONS are filled in.
PAGE = """
window.got = []; window.states = []; window.recoveries = [];
window.client = new WssClient(URL, Object.assign({getToken: function () {
    return new Promise(function (resolve) { setTimeout(function () { resolve(TOKEN); }, 10); });
}}, OPTIONS));
client.on("message", function (data, meta) { got.push([data, meta.stream || null]); });
client.on("state", function (state) { states.push(state); });
client.on("recovered", function (info) { recoveries.push(info); });
"ready"
"""

# The mini program's wx.connectSocket and SocketTask, over the browser's WebSocket.
WX = """
window.wxOpened = [];
window.wxStandIn = {connectSocket: function (options) {
    wxOpened.push(options.url);
    var ws = new WebSocket(options.url, options.protocols);
    return {
        onOpen: function (fn) { ws.onopen = function () { fn({}); }; },
        onMessage: function (fn) { ws.onmessage = function (e) { fn({data: e.data}); }; },
        onClose: function (fn) { ws.onclose = function (e) { fn({code: e.code, reason: e.reason}); }; },
        onError: function (fn) { ws.onerror = function () { fn({errMsg: "error"}); }; },
        send: function (o) { ws.send(o.data); },
        close: function (o) { ws.close(o.code, o.reason); }
    };
}};
"wx"
"""


class JSClientTests(TestCase):
    def setUp(self):
        self.pki = PKI(self.mktemp())
        self.browser = Browser(self, self.pki.path("ca.pem"))
        self.jwtKey = secretFile(self, SECRET)
        self.options = ["--jwt-key-file", self.jwtKey, "--history", "group:*",
                        "--history", "uid:*"]
        self.cluster = Cluster(self, workers=False, extra=self.options)
        self.api = self.cluster.api
        self.sent = []

    def token(self):
        return jwt.encode({"sub": "ann", "groups": ["room"], "exp": time.time() + 600},
                          SECRET)

    def open(self, url, options="{}"):
        with open(CLIENT) as f:
            self.browser.evaluate(f.read() + "\n'loaded'")
        page = (PAGE.replace("URL", json.dumps(url)).replace("TOKEN", json.dumps(self.token()))
                .replace("OPTIONS", options))
        self.browser.evaluate(page)
        self.waitFor("client.state === 'open' && got.length >= 1")

    def waitFor(self, condition, timeout=30):
        deadline = time.monotonic() + timeout
        while not self.browser.evaluate(f"!!({condition})"):
            if time.monotonic() > deadline:
                raise AssertionError(f"never {condition}: " + json.dumps(self.browser.evaluate(
                    "({got: got, states: states, recoveries: recoveries})")))
            time.sleep(0.05)

    def send(self, count):
        for _ in range(count):
            text = f"message {len(self.sent)}"
            self.sent.append(text)
            if len(self.sent) % 2:
                self.api.sendToGroup("room", text)
            else:
                self.api.sendToUid("ann", text)

    def clientId(self):
        return json.loads(self.browser.evaluate("got[0][0]"))["clientId"]

    def cutWhileSending(self, cut):
        """3 messages, the cut, 3 while away, back, 3 more: every one once, in order."""
        self.send(3)
        self.waitFor("got.length >= 4")
        cut()
        self.send(3)
        self.waitFor("client.state === 'open' && got.length >= 7")
        self.send(3)
        self.waitFor("got.length >= 10")
        got = self.browser.evaluate("got.filter(function (m) { return m[1] !== null; })"
                                    ".map(function (m) { return m[0]; })")
        self.assertEqual(got, self.sent)
        states = self.browser.evaluate("states")
        self.assertIn("closed", states, "the cut was seen")
        self.assertEqual(states[-1], "open")

    def closeClient(self):
        self.assertIs(self.api.closeClient(self.clientId()), True)
        self.waitFor("states.indexOf('closed') >= 0")

    def test_directCloseClient(self):
        self.open(self.cluster.url("B"))
        self.cutWhileSending(self.closeClient)

    def test_directServiceRestarted(self):
        self.open(self.cluster.url("B"))
        port = self.cluster.ports["B"]

        def restart():
            self.cluster.services["B"].stop(signal.SIGTERM)
            self.waitFor("states.indexOf('closed') >= 0")
            self.cluster.services["B"] = Service(
                self, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                "--app", "tests.support.apps:HubProtocol", "--redis", self.cluster.redis.url,
                *self.options, port=port)
        self.cutWhileSending(restart)

    def test_directWorkerKilled(self):
        port = freePort()
        service = Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1", "--workers",
                          "2", "--app", "tests.support.apps:HubProtocol",
                          "--redis", self.cluster.redis.url, *self.options, port=port)
        service.workers(2, after="hub on Redis at")
        self.open(f"ws://127.0.0.1:{port}/wss")

        def kill():
            for pid in service.children():
                os.kill(pid, signal.SIGKILL)
            self.waitFor("states.indexOf('closed') >= 0")
        self.cutWhileSending(kill)

    def test_throughNginxNetworkDropped(self):
        port = freePort()
        backend = self.cluster.ports["B"]
        nginx = proxies.nginx(self, port, backend, self.pki)
        self.open(f"wss://localhost:{port}/wss")

        def drop():
            # nginx stopped at once: every connection through it is gone.
            nginx.stop()
            self.waitFor("states.indexOf('closed') >= 0")
            proxies.nginx(self, port, backend, self.pki)
        self.cutWhileSending(drop)

    def test_weChatMiniProgram(self):
        self.browser.evaluate(WX)
        self.open(self.cluster.url("B"), "{wx: wxStandIn}")
        self.cutWhileSending(self.closeClient)
        opened = self.browser.evaluate("wxOpened")
        self.assertGreaterEqual(len(opened), 2)
        self.assertIn("resume=", opened[-1])
