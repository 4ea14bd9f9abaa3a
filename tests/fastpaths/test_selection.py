from dataclasses import fields

from twisted.logger import formatEvent, globalLogPublisher
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.trial.unittest import TestCase

from tests.support.handshake import InMemory, clientFrame
from tests.support.pki import PKI
from tests.test_tap import options
from wss_service import fastpaths, tap
from wss_service.apps import EchoProtocol
from wss_service.factory import ServiceFactory
from wss_service.fastpaths import FastPaths, frames, openssl, quietsettings, tlstransport
from wss_service.fastpaths.tlsbuffers import BufferReleaser
from wss_service.service import ListeningService


class SelectionTests(TestCase):
    def setUp(self):
        fastpaths.problems.cache_clear()
        self.addCleanup(fastpaths.problems.cache_clear)
        self.lines = []
        globalLogPublisher.addObserver(self.observe)
        self.addCleanup(globalLogPublisher.removeObserver, self.observe)

    def observe(self, event):
        if event.get("log_namespace") == "wss":
            self.lines.append(formatEvent(event))

    def test_allAvailableHere(self):
        self.assertEqual(fastpaths.problems(), {})
        self.assertEqual(fastpaths.select(), FastPaths(*[True] * len(fields(FastPaths))))
        self.assertEqual(len(self.lines), 2)
        for road, line in zip((frames, tlstransport), self.lines):
            self.assertIn(": compiled (" if road.compiled else ": pure Python (", line)
        self.assertIn("short road for frames: ", self.lines[0])
        self.assertIn("TLS layer's OpenSSL calls: ", self.lines[1])

    def test_pureSaidWithWhy(self):
        for road in (frames, tlstransport):
            self.patch(road, "compiled", None)
            self.patch(road, "notCompiled", "no compiled module (...)")
        fastpaths.select()
        self.assertEqual(self.lines, [
            "short road for frames: pure Python (no compiled module (...))",
            "TLS layer's OpenSSL calls: pure Python (no compiled module (...))"])

    def test_offByHand(self):
        self.assertEqual(fastpaths.select(enabled=False), FastPaths())
        self.assertEqual(len(self.lines), 1)
        self.assertIn("--no-fast-paths", self.lines[0])

    def test_missingBindingLeavesOutTheOpenSSLPaths(self):
        self.patch(openssl, "FUNCTIONS", openssl.FUNCTIONS + ("SSL_renamed",))
        self.assertEqual(fastpaths.select(),
                         FastPaths(frames=True, quietSettings=True, writeThrough=True,
                                   dispatch=True, timers=True, accepts=True))
        self.assertEqual(len(self.lines), 2, "what is left out, and which short road serves")
        self.assertIn("tls: pyOpenSSL lacks SSL_renamed, so Twisted's TLS layer", self.lines[0])
        self.assertIn("buffers: pyOpenSSL lacks SSL_renamed", self.lines[0])

    def test_untestedPyOpenSSL(self):
        self.patch(openssl, "TESTED", (90, 91))
        self.assertIn("outside the tested 90-91", openssl.missing())

    def test_twistedChanged(self):
        self.patch(tlstransport, "TWISTED", tlstransport.TWISTED + ("_renamed",))
        self.assertEqual(fastpaths.available(),
                         FastPaths(buffers=True, frames=True, quietSettings=True,
                                   writeThrough=True, dispatch=True, timers=True, accepts=True))
        self.patch(tlstransport, "TWISTED_PER_CONNECTION", ("_perConnection",))
        self.assertIn("_perConnection", tlstransport.missing())

    def test_autobahnChanged(self):
        self.patch(frames, "AUTOBAHN", frames.AUTOBAHN + ("renamed",))
        self.assertEqual(frames.missing(), "Autobahn lacks renamed")
        self.patch(frames, "TRAFFIC", ("renamedCounter",))
        self.assertIn("renamedCounter", frames.missing())
        self.patch(frames, "TESTED", (1, 2))
        self.assertIn("outside the tested 1-2", frames.missing())

    def test_autobahnSettingsLineChanged(self):
        import autobahn.websocket.protocol as autobahnProtocol

        self.patch(autobahnProtocol, "pformat", repr)
        self.assertIsNotNone(quietsettings.missing())
        self.assertFalse(fastpaths.available().quietSettings)


class WithoutFastPathsTests(InMemory, TestCase):
    def test_protocolTakesAutobahnsRoads(self):
        factory = ServiceFactory(EchoProtocol, reactor=self.clock, fast=FastPaths())
        self.assertNotIn(frames.ShortRoad, factory.protocol.__mro__)
        self.assertNotIn(quietsettings.QuietSettings, factory.protocol.__mro__)
        protocol, transport = self.handshake(factory)
        transport.clear()
        protocol.dataReceived(clientFrame(b"tom"))
        self.assertEqual(transport.value(), b"\x81\x03tom")

    def test_serviceUsesTwistedsTLS(self):
        pki = PKI(self.mktemp())
        service = tap.makeService(options("--no-fast-paths", "--endpoint", pki.endpoint(8443)),
                                  reactor=self.clock)
        listener = next(c for c in service if isinstance(c, ListeningService))
        self.assertIs(listener.endpoint.tlsFactory, TLSMemoryBIOFactory)
        self.assertFalse([c for c in service if isinstance(c, BufferReleaser)])
        self.assertEqual(service.factory.fast, FastPaths())

    def test_serviceUsesFastPathsByDefault(self):
        pki = PKI(self.mktemp())
        service = tap.makeService(options("--endpoint", pki.endpoint(8443)), reactor=self.clock)
        listener = next(c for c in service if isinstance(c, ListeningService))
        self.assertIs(listener.endpoint.tlsFactory, tlstransport.TLSFactory)
        self.assertIn(frames.ShortRoad, service.factory.protocol.__mro__)
