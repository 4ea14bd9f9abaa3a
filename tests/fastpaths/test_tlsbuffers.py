"""
Idle wss connections give back OpenSSL's memory BIOs, and work on after:
driven in memory through the service's TLS transport and a pyOpenSSL client.
"""

from OpenSSL import SSL
from twisted.trial.unittest import TestCase

from tests.support.handshake import clientFrame, request
from tests.support.pki import PKI
from tests.support.tlswire import TLSWire
from tests.test_protocol import factory
from wss_service.apps import EchoProtocol
from wss_service.tls import KeyPair, ServerTLS
from wss_service.fastpaths.tlsbuffers import BufferReleaser, releaseBuffers


def shuttle(sink, source):
    """Move what C{source} has written into C{sink}; whether anything moved."""
    try:
        sink.bio_write(source.bio_read(1 << 20))
    except SSL.WantReadError:
        return False
    return True


class ReleaseTests(TestCase):
    def setUp(self):
        pki = PKI(self.mktemp())
        tls = ServerTLS(KeyPair(pki.path("server.key"), pki.path("fullchain.pem")))
        self.server = tls.serverConnectionForTLS(None)
        self.server.set_accept_state()
        self.client = SSL.Connection(SSL.Context(SSL.TLS_CLIENT_METHOD), None)
        self.client.set_connect_state()
        for _ in range(10):
            for side in (self.client, self.server):
                try:
                    side.do_handshake()
                except SSL.WantReadError:
                    pass
            shuttle(self.server, self.client)
            shuttle(self.client, self.server)

    def test_releasedAndStillWorking(self):
        before = (self.server._into_ssl, self.server._from_ssl)
        self.assertTrue(releaseBuffers(self.server))
        self.assertNotIn(self.server._into_ssl, before)
        self.client.send(b"tom")
        shuttle(self.server, self.client)
        self.assertEqual(self.server.recv(100), b"tom")
        self.server.send(b"ok")
        shuttle(self.client, self.server)
        self.assertEqual(self.client.recv(100), b"ok")

    def test_keptWhileBytesWait(self):
        self.client.send(b"tom")
        shuttle(self.server, self.client)
        self.assertFalse(releaseBuffers(self.server))
        self.assertEqual(self.server.recv(100), b"tom")
        self.server.send(b"ok")
        self.assertFalse(releaseBuffers(self.server))


class WssConnectionTests(TLSWire, TestCase):
    def setUp(self):
        super().setUp()
        self.factory = factory(EchoProtocol, clock=self.clock, pingInterval=0)
        self.releaser = BufferReleaser(self.factory, 30, self.clock)
        self.releaser.startService()
        self.addCleanup(self.releaser.stopService)
        self.connectTLS(self.factory)

    def bios(self):
        handle = self.wire.getHandle()
        return handle._into_ssl, handle._from_ssl

    def test_handshakeBuffersReleasedAtOpen(self):
        self.exchange()
        afterTLS = self.bios()
        self.assertIn(b" 101 ", self.exchange(request()))
        self.assertNotEqual(self.bios(), afterTLS)
        self.assertEqual(self.exchange(clientFrame(b"tom")), b"\x81\x03tom")

    def test_releasedOnceQuietAfterTraffic(self):
        self.exchange()
        self.exchange(request())
        self.assertEqual(len(self.exchange(clientFrame(b"x" * 200_000, opcode=2))), 200_010)
        busy = self.bios()
        self.clock.advance(30)
        self.assertEqual(self.bios(), busy)
        self.clock.advance(30)
        quiet = self.bios()
        self.assertNotEqual(quiet, busy)
        self.assertEqual(self.exchange(clientFrame(b"tom")), b"\x81\x03tom")
        self.clock.advance(30)
        self.assertEqual(self.bios(), quiet)
        self.clock.advance(30)
        self.assertNotEqual(self.bios(), quiet)
