"""
Proxied mode: real nginx and Apache, from contrib/, terminate TLS and forward
/wss to the real service. Clients come from 127.0.0.2 so that the proxy's
address and the client's differ.
"""

from twisted.trial.unittest import TestCase

from tests.support import proxies
from tests.support.clients import exchange, rawHead
from tests.support.pki import PKI
from tests.support.service import Service, freePort

CLIENT = "127.0.0.2"
SPOOF = {"X-Real-IP": "6.6.6.6", "X-Forwarded-For": "6.6.6.6",
         "Forwarded": "for=6.6.6.6"}
SMUGGLED = "203.0.113.77"
# Bytes that str.splitlines() breaks at, as a client can put them in a value.
SPLITTERS = [b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x85",
             "\u2028".encode(), "\u2029".encode()]


class ProxiedMixin:
    proxy = None

    def setUp(self):
        self.pki = PKI(self.mktemp())
        self.backend, self.port = freePort(), freePort()
        # Only the proxy's own address is trusted, so 127.0.0.2 is a stranger.
        self.service = Service(
            self, "--endpoint", f"tcp:{self.backend}:interface=127.0.0.1",
            "--path", "/wss", "--trusted-proxy", "127.0.0.1/32",
            "--app", "tests.support.apps:AddressProtocol", port=self.backend,
        )
        self.proxy(self.port, self.backend, self.pki)

    def viaProxy(self, **options):
        return exchange(f"wss://localhost:{self.port}/wss", ssl=self.pki.clientContext(),
                        source=CLIENT, **options)

    def test_realClientAddress(self):
        self.assertEqual(self.viaProxy(), CLIENT)
        self.service.waitForLog(f"open {CLIENT} peer=127.0.0.1:")

    def test_spoofedHeadersThroughProxy(self):
        self.assertEqual(self.viaProxy(headers=SPOOF), CLIENT)

    def test_smuggledHeadersThroughProxy(self):
        """
        No byte in a header value makes the service see a header the proxy
        did not send: each such request is refused (by the proxy or the
        service), or opens with the real client's address.
        """
        for splitter in SPLITTERS:
            for forged in [f"X-Forwarded-For: {SMUGGLED}", f"X-Real-IP: {SMUGGLED}",
                           f"Forwarded: for={SMUGGLED}"]:
                head = rawHead(self.port, [b"X-Note: a" + splitter + forged.encode()],
                               ssl=self.pki.clientContext(), source=CLIENT)
                status = head.split(b"\r\n", 1)[0]
                self.assertTrue(status.startswith((b"HTTP/1.1 400 ", b"HTTP/1.1 101 ")),
                                (splitter, forged, head))
                if b" 101 " in status:
                    self.service.waitForLog(f"open {CLIENT} peer=127.0.0.1:")
        self.assertEqual(self.viaProxy(), CLIENT)
        self.assertNotIn(SMUGGLED, self.service.log())

    def test_directClientCannotSpoof(self):
        answer = exchange(f"ws://127.0.0.1:{self.backend}/wss", source=CLIENT, headers=SPOOF)
        self.assertEqual(answer, CLIENT)


class OkViaProxyMixin:
    def test_tomGetsOk(self):
        backend, port = freePort(), freePort()
        Service(self, "--endpoint", f"tcp:{backend}:interface=127.0.0.1", port=backend)
        pki = PKI(self.mktemp())
        self.proxy(port, backend, pki)
        self.assertEqual(exchange(f"wss://localhost:{port}/wss", ssl=pki.clientContext(),
                                  source=CLIENT), "ok")


class NginxTests(ProxiedMixin, OkViaProxyMixin, TestCase):
    def proxy(self, port, backend, pki):
        return proxies.nginx(self, port, backend, pki)


class ApacheTests(ProxiedMixin, OkViaProxyMixin, TestCase):
    def proxy(self, port, backend, pki):
        return proxies.apache(self, port, backend, pki)
