"""
A real browser (headless Chromium, trusting only the test CA, with no
certificate errors ignored) runs the classic snippet.
"""

from twisted.trial.unittest import TestCase

from tests.support import proxies
from tests.support.browser import Browser
from tests.support.pki import PKI
from tests.support.service import Service, freePort


class BrowserTests(TestCase):
    def setUp(self):
        self.pki = PKI(self.mktemp())
        self.browser = Browser(self, self.pki.path("ca.pem"))

    def test_directWss(self):
        port = freePort()
        Service(self, "--endpoint", self.pki.endpoint(port), port=port)
        self.assertEqual(self.browser.classicSnippet(f"wss://localhost:{port}/wss"), "ok")

    def test_wssThroughNginx(self):
        backend, port = freePort(), freePort()
        Service(self, "--endpoint", f"tcp:{backend}:interface=127.0.0.1", port=backend)
        proxies.nginx(self, port, backend, self.pki)
        self.assertEqual(self.browser.classicSnippet(f"wss://localhost:{port}/wss"), "ok")

    def test_missingChainRefused(self):
        port = freePort()
        Service(self, "--endpoint", self.pki.endpoint(port, certKey="leaf.pem"), port=port)
        e = self.assertRaises(AssertionError, self.browser.classicSnippet,
                              f"wss://localhost:{port}/wss")
        self.assertIn("WebSocket error", str(e))
