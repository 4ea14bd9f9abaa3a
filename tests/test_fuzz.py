"""
Property-based tests: whatever bytes or headers a client sends, the service
answers, closes, or waits for more; it never raises or logs an error.
"""

from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import TestCase

from tests.support.handshake import InMemory, request
from tests.test_protocol import factory
from wss_service.realip import LOOPBACK, clientAddress, parseAddress, parseNetworks

TRUSTED = parseNetworks(LOOPBACK)
FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

headerName = st.sampled_from(["Host", "Upgrade", "Connection", "Sec-WebSocket-Key",
                              "Sec-WebSocket-Version", "Origin", "X-Real-IP",
                              "X-Forwarded-For", "Forwarded", "Sec-WebSocket-Extensions",
                              "Sec-WebSocket-Protocol", "Content-Length",
                              "Transfer-Encoding"]) | st.text(min_size=1, max_size=20)
headerValue = st.text(max_size=80)
addressText = st.one_of(st.ip_addresses().map(str), st.text(max_size=40))


class HandshakeFuzzTests(InMemory, TestCase):
    def setUp(self):
        super().setUp()
        self.problems = []
        globalLogPublisher.addObserver(self.watch)
        self.addCleanup(globalLogPublisher.removeObserver, self.watch)

    def watch(self, event):
        if "log_failure" in event or event["log_level"] >= LogLevel.error \
                or "Unexpected exception" in (event.get("log_format") or ""):
            self.problems.append(event)

    def feed(self, data, **settingsForFactory):
        f = factory(clock=self.clock, paths=("/wss",), **settingsForFactory)
        protocol, transport = self.connect(f)
        protocol.dataReceived(data)
        self.clock.advance(10)
        answer = transport.value()
        self.lose(protocol)
        self.assertTrue(answer == b"" or answer.startswith(b"HTTP/1.1 "), answer[:80])
        self.assertEqual(self.problems, [])
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual(f.connections, set())
        return answer

    @FUZZ
    @given(st.binary(max_size=1024))
    def test_anyBytes(self, data):
        self.feed(data)

    @FUZZ
    @given(st.lists(st.tuples(headerName, headerValue), max_size=8),
           st.sampled_from(["/wss", "/", "/wss?x=1", "*", "/wss#f", "//x"]))
    def test_oddHeaders(self, extra, path):
        head = request(path).rstrip(b"\r\n")
        lines = b"".join(f"\r\n{n}: {v}".encode("utf-8", "replace") for n, v in extra)
        self.feed(head + lines + b"\r\n\r\n")

    @FUZZ
    @given(st.binary(max_size=200))
    def test_validHandshakeThenAnyFrames(self, frames):
        f = factory(clock=self.clock, maxMessageSize=512)
        protocol, transport = self.handshake(f)
        protocol.dataReceived(frames)
        self.clock.advance(30)
        self.lose(protocol)
        self.assertEqual(self.problems, [])
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_duplicateHeadersRefused(self):
        for name in ("Host", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Origin"):
            head = request().rstrip(b"\r\n") + f"\r\n{name}: x".encode() + b"\r\n\r\n"
            self.assertTrue(self.feed(head).startswith(b"HTTP/1.1 400 "), name)


class RealIPFuzzTests(TestCase):
    @settings(max_examples=500, deadline=None)
    @given(addressText, st.dictionaries(
        st.sampled_from(["x-real-ip", "x-forwarded-for", "forwarded"]),
        st.one_of(addressText, st.lists(addressText, max_size=5).map(", ".join),
                  st.lists(addressText, max_size=5).map(
                      lambda a: ", ".join(f"for={x}" for x in a)))))
    def test_alwaysAnAddress(self, peer, headers):
        result = clientAddress(peer, headers, TRUSTED)
        peerAddress = parseAddress(peer)
        if peerAddress is None or not any(peerAddress in n for n in TRUSTED):
            self.assertEqual(result, str(peerAddress or peer), "headers of an untrusted peer")
        else:
            self.assertIsNotNone(parseAddress(result), result)
