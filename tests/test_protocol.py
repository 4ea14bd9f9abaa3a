import pprint

import autobahn.websocket.protocol as autobahnProtocol
import txaio
from autobahn.twisted.websocket import WebSocketServerProtocol
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase

from tests.support.handshake import InMemory, clientFrame, closeCode, request
from wss_service.apps import EchoProtocol, OkProtocol
from wss_service.factory import ServiceFactory, Settings
from wss_service.protocol import normalizeOrigin
from wss_service.realip import LOOPBACK, parseNetworks


def factory(app=OkProtocol, clock=None, **settings):
    settings.setdefault("trustedProxies", parseNetworks(LOOPBACK))
    return ServiceFactory(app, Settings(**settings), reactor=clock)


class HandshakeTests(InMemory, TestCase):
    def status(self, transport):
        return transport.value().split(b"\r\n", 1)[0]

    def test_tomGetsOk(self):
        protocol, transport = self.handshake(factory(clock=self.clock))
        self.assertEqual(self.status(transport), b"HTTP/1.1 101 Switching Protocols")
        transport.clear()
        protocol.dataReceived(clientFrame(b"tom"))
        self.assertEqual(transport.value(), b"\x81\x02ok")

    def test_echo(self):
        protocol, transport = self.handshake(factory(EchoProtocol, clock=self.clock))
        transport.clear()
        protocol.dataReceived(clientFrame(b"\x00\x01", opcode=0x2))
        self.assertEqual(transport.value(), b"\x82\x02\x00\x01")

    def test_pathRestricted(self):
        f = factory(clock=self.clock, paths=("/wss",))
        _, good = self.handshake(f, path="/wss")
        _, bad = self.handshake(f, path="/other")
        self.assertIn(b" 101 ", self.status(good))
        self.assertEqual(self.status(bad), b"HTTP/1.1 404 Not Found")
        self.assertTrue(bad.disconnecting)

    def test_pathCheckedEvenIfAppOverridesOnConnect(self):
        class Careless(WebSocketServerProtocol):
            def onConnect(self, request):
                return None

        _, transport = self.handshake(factory(Careless, clock=self.clock, paths=("/wss",)),
                                      path="/nope")
        self.assertIn(b" 404 ", self.status(transport))

    def test_anyOriginByDefault(self):
        f = factory(clock=self.clock)
        for origin in ["https://evil.example", "null"]:
            _, transport = self.handshake(f, Origin=origin)
            self.assertIn(b" 101 ", self.status(transport), origin)

    def test_allowedOrigins(self):
        f = factory(clock=self.clock, origins=("https://Example.com:443",))
        _, good = self.handshake(f, Origin="https://example.com")
        _, bad = self.handshake(f, Origin="https://evil.example")
        _, null = self.handshake(f, Origin="null")
        _, none = self.handshake(f)
        self.assertIn(b" 101 ", self.status(good))
        self.assertEqual(self.status(bad), b"HTTP/1.1 403 Forbidden")
        self.assertIn(b" 403 ", self.status(null))
        self.assertIn(b" 101 ", self.status(none))

    def test_realAddressFromTrustedProxy(self):
        protocol, _ = self.handshake(factory(clock=self.clock), X_Real_IP="198.51.100.9")
        self.assertEqual(protocol.clientAddress, "198.51.100.9")

    def test_headersFromUntrustedPeerIgnored(self):
        protocol, _ = self.handshake(factory(clock=self.clock), peer="192.0.2.5",
                                     X_Real_IP="198.51.100.9",
                                     X_Forwarded_For="198.51.100.9")
        self.assertEqual(protocol.clientAddress, "192.0.2.5")

    def test_perAddressLimit(self):
        f = factory(clock=self.clock, maxConnectionsPerIP=1)
        first, one = self.handshake(f, peer="192.0.2.5")
        _, two = self.handshake(f, peer="192.0.2.5")
        _, other = self.handshake(f, peer="192.0.2.6")
        self.assertIn(b" 101 ", self.status(one))
        self.assertEqual(self.status(two), b"HTTP/1.1 429 Too Many Requests")
        self.assertIn(b" 101 ", self.status(other))
        self.lose(first)
        _, three = self.handshake(f, peer="192.0.2.5")
        self.assertIn(b" 101 ", self.status(three))

    def test_plainHTTPGets426(self):
        protocol, transport = self.connect(factory(clock=self.clock))
        protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        response = transport.value()
        self.assertTrue(response.startswith(b"HTTP/1.1 426 Upgrade Required\r\n"))
        self.assertIn(b"\r\nUpgrade: websocket\r\n", response)
        self.assertNotIn(b"<html", response.lower())

    def test_malformedHandshake(self):
        protocol, transport = self.connect(factory(clock=self.clock))
        protocol.dataReceived(b"\x16\x03\x01garbage\r\n\r\n")
        self.assertEqual(self.status(transport), b"HTTP/1.1 400 Bad Request")
        self.assertTrue(transport.disconnecting)

    def test_handshakeTimeout(self):
        protocol, transport = self.connect(factory(clock=self.clock, handshakeTimeout=2))
        protocol.dataReceived(b"GET / HTTP/1.1\r\n")
        self.clock.advance(3)
        self.assertTrue(transport.disconnecting or not transport.connected)

    def test_oversizedMessageCloses1009(self):
        protocol, transport = self.handshake(factory(clock=self.clock, maxMessageSize=1000))
        transport.clear()
        protocol.dataReceived(clientFrame(b"x" * 1001))
        self.assertEqual(closeCode(transport.value()), 1009)

    def test_goAwaySends1001(self):
        f = factory(clock=self.clock)
        protocol, transport = self.handshake(f)
        transport.clear()
        d = f.goAway(5)
        self.assertEqual(closeCode(transport.value()), 1001)
        self.clock.advance(2)
        self.assertFalse(transport.disconnecting, "a slow client gets the whole timeout")
        self.assertNoResult(d)
        self.lose(protocol)
        self.successResultOf(d)

    def test_goAwayTimesOut(self):
        f = factory(clock=self.clock)
        protocol, transport = self.handshake(f)
        d = f.goAway(5)
        self.clock.advance(6)
        self.assertTrue(transport.disconnecting or not transport.connected)
        self.lose(protocol)
        self.successResultOf(d)


class LogTests(InMemory, TestCase):
    def test_openAndCloseLines(self):
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        protocol, transport = self.handshake(factory(clock=self.clock), X_Real_IP="198.51.100.9")
        self.clock.advance(2)
        protocol.dataReceived(clientFrame(b"\x03\xe8", opcode=0x8))
        self.lose(protocol)
        ours = [e for e in events if e.get("log_namespace") == "wss"]
        self.assertEqual([e["log_format"].split()[0] for e in ours], ["open", "close"])
        self.assertEqual(ours[0]["client"], "198.51.100.9")
        self.assertEqual(ours[0]["peer"], "127.0.0.1:40000")
        self.assertEqual(ours[0]["path"], "/wss")
        self.assertEqual(ours[1]["code"], 1000)
        self.assertEqual(ours[1]["duration"], 2)


class SetUpCostTests(InMemory, TestCase):
    def test_settingsNotPrettyPrintedPerConnection(self):
        calls = []
        original = pprint.PrettyPrinter.pformat
        self.patch(pprint.PrettyPrinter, "pformat",
                   lambda printer, value: calls.append(value) or original(printer, value))
        self.handshake(factory(clock=self.clock))
        self.assertEqual(calls, [])
        self.assertIs(autobahnProtocol.pformat, pprint.pformat)

    def test_optionsSharedOnTheClass(self):
        protocol, _ = self.handshake(factory(clock=self.clock, handshakeTimeout=7.5))
        self.assertEqual(protocol.openHandshakeTimeout, 7.5)
        self.assertIsNone(protocol.perMessageCompressionAccept([]))
        self.assertEqual(set(vars(protocol)) & set(protocol.CONFIG_ATTRS), set())

    def test_appsOwnOptionWins(self):
        class Patient(OkProtocol):
            openHandshakeTimeout = 60

        protocol, _ = self.handshake(factory(Patient, clock=self.clock, handshakeTimeout=7.5))
        self.assertEqual(protocol.openHandshakeTimeout, 60)

    def test_settingsInTheDebugLine(self):
        level = txaio.get_global_log_level()
        txaio.set_global_log_level("debug")
        self.addCleanup(txaio.set_global_log_level, level)
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        self.handshake(factory(clock=self.clock, handshakeTimeout=7.5))
        lines = [formatEvent(e) for e in events if e.get("log_format") == "\n{attrs}"]
        self.assertEqual(len(lines), 1)
        self.assertIn("('openHandshakeTimeout', 7.5,", lines[0])


class OriginTests(TestCase):
    def test_normalize(self):
        self.assertEqual(normalizeOrigin("HTTPS://Example.COM:443"), "https://example.com")
        self.assertEqual(normalizeOrigin("http://example.com:8080"), "http://example.com:8080")
        self.assertEqual(normalizeOrigin("http://[::1]:80"), "http://[::1]")
        self.assertEqual(normalizeOrigin("null"), "null")


class StrictHeadTests(InMemory, TestCase):
    def test_smuggledHeaderRefusedBeforeAnyHeaderIsBelieved(self):
        opened = []

        class Watching(OkProtocol):
            def onConnect(self, request):
                opened.append(request)

        for splitter in [b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x85"]:
            f = factory(Watching, clock=self.clock)
            protocol, transport = self.connect(f)
            protocol.dataReceived(request(X_Note=(b"a" + splitter).decode("latin-1")
                                          + "X-Forwarded-For: 203.0.113.77")
                                  .replace(b"\xc2\x85", b"\x85"))
            self.assertEqual(transport.value().split(b"\r\n", 1)[0], b"HTTP/1.1 400 Bad Request",
                             splitter)
            self.assertTrue(transport.disconnecting, splitter)
            self.assertIsNone(protocol.clientAddress)
            self.assertEqual(f.metrics.refused[400], 1)
        self.assertEqual(opened, [])

    def test_repeatedRealIPNotBelieved(self):
        protocol, transport = self.connect(factory(clock=self.clock))
        protocol.dataReceived(request().rstrip(b"\r\n")
                              + b"\r\nX-Real-IP: 198.51.100.9\r\nX-Real-IP: 203.0.113.77\r\n\r\n")
        self.assertIn(b" 101 ", transport.value().split(b"\r\n", 1)[0])
        self.assertEqual(protocol.clientAddress, "127.0.0.1")
