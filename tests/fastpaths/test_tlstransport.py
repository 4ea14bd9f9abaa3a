"""
The TLS transport under wss connections: the same bytes as Twisted's own,
however the records are cut into reads, each write out at once (on a real
socket: before the reactor turns, what the kernel leaves queued in order),
and TLS endings and errors handled by Twisted's own code.
"""

import os
import socket
import ssl

from hypothesis import HealthCheck, given, settings, strategies as st
from OpenSSL import SSL
from zope.interface import implementer
from twisted.internet import defer, reactor
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.threads import deferToThread
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import TestCase

from tests.support.compiled import requireCompiled
from tests.fastpaths.test_writethrough import BIG, readAll
from tests.support.handshake import clientFrame, request, serverFrames
from tests.support.pki import PKI
from tests.support.tlswire import TLSWire
from tests.test_protocol import factory
from wss_service.apps import EchoProtocol
from wss_service.fastpaths import openssl, tlstransport, writethrough
from wss_service.tls import KeyPair, ServerTLS

# Run by two classes, one per road (see PythonRoadTests).
EXAMPLES = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.differing_executors])


class Ends(EchoProtocol):
    def connectionLost(self, reason):
        self.factory.ends.append(reason)
        super().connectionLost(reason)


@implementer(IHandshakeListener)
class SpeaksFirst(Protocol):
    def connectionMade(self):
        self.transport.write(b"first, ")

    def handshakeCompleted(self):
        self.transport.write(b"then second")


def cutter(data):
    """Cuts bytes at the given fractions of their length."""
    def cut(wire):
        points = sorted({int(f * len(wire)) for f in data})
        return [wire[a:b] for a, b in zip([0] + points, points + [len(wire)])]
    return cut


class TLSTransportTests(TLSWire, TestCase):
    def open(self):
        self.factory = factory(Ends, clock=self.clock, pingInterval=0)
        self.factory.ends = []
        self.connectTLS(self.factory)
        self.exchange()
        self.assertIn(b" 101 ", self.exchange(request()))
        self.protocol = self.wire.wrappedProtocol

    def assertFailed(self):
        """The connection ends, once, with OpenSSL's error."""
        self.assertTrue(self.transport.disconnecting)
        self.lose(self.wire)
        self.assertEqual(len(self.factory.ends), 1)
        self.assertTrue(self.factory.ends[0].check(SSL.Error))

    @EXAMPLES
    @given(sizes=st.lists(st.sampled_from([0, 1, 125, 126, 4096, 16384, 70000]),
                          min_size=1, max_size=5),
           cuts=st.lists(st.floats(0, 1), max_size=8))
    def test_echoHoweverRecordsAreCut(self, sizes, cuts):
        self.open()
        payloads = [os.urandom(size) for size in sizes]
        wire = b"".join(clientFrame(p, opcode=2) for p in payloads)
        answer = self.exchange(wire, chunks=cutter(cuts))
        self.assertEqual(serverFrames(answer), [(2, p) for p in payloads])

    def test_writeGoesOutAtOnce(self):
        self.open()
        self.protocol.sendMessage(b"ok")
        self.assertTrue(self.transport.value(), "written without waiting for a reactor turn")
        self.client.bio_write(self.transport.value())
        self.assertEqual(self.client.recv(100), b"\x81\x02ok")

    def test_writeOfAnyBuffer(self):
        self.open()
        self.wire.write(memoryview(b"abc"))
        self.client.bio_write(self.transport.value())
        self.assertEqual(self.client.recv(100), b"abc")

    def test_writeOpenSSLRefusesFailsTheConnection(self):
        self.open()
        self.wire._tlsConnection.shutdown()
        self.protocol.sendMessage(b"ok")
        self.assertFailed()

    def test_nothingWrittenAfterCloseNotify(self):
        self.open()
        self.client.shutdown()
        self.wire.dataReceived(self.clientBytes())
        self.transport.clear()
        self.wire.write(b"late")
        self.assertEqual(self.transport.value(), b"")

    def test_nothingWrittenAfterLoseConnection(self):
        self.connectTLS(Factory.forProtocol(Protocol))
        self.exchange()
        self.wire.loseConnection()
        self.transport.clear()
        self.wire.write(b"late")
        self.assertEqual(self.transport.value(), b"")
        # Nor is it an error (OpenSSL's answer to a write after its
        # close_notify) that ends the connection before the client's.
        self.assertFalse(self.transport.disconnecting)

    def test_writtenAfterLoseConnectionWhileAProducerIsRegistered(self):
        # As Twisted's own: the connection ends when the producer is done.
        # The service's connections register one (see protocol.py).
        self.open()
        self.assertIsNotNone(self.wire._producer)
        self.wire.loseConnection()
        self.transport.clear()
        self.wire.write(b"still")
        self.client.bio_write(self.transport.value())
        self.assertEqual(self.client.recv(100), b"still")

    def test_writesKeepTheirOrderAcrossTheHandshake(self):
        self.connectTLS(Factory.forProtocol(SpeaksFirst))
        self.assertEqual(self.exchange(), b"first, then second")

    def test_closeNotifyAnswered(self):
        self.open()
        self.client.shutdown()
        self.wire.dataReceived(self.clientBytes())
        self.client.bio_write(self.transport.value())
        self.assertTrue(self.client.shutdown(), "the server's close_notify came back")
        self.assertTrue(self.transport.disconnecting)

    def test_corruptRecordFailsTheConnection(self):
        self.open()
        self.wire.dataReceived(b"\x17\x03\x03\x00\x20" + os.urandom(32))
        self.assertFailed()

    def test_tcpEndWithoutCloseNotify(self):
        self.open()
        self.lose(self.wire)
        self.assertEqual(len(self.factory.ends), 1)
        # As Twisted's own: an end without close_notify is not a clean one.
        self.assertTrue(self.factory.ends[0].check(ConnectionLost))


class PythonRoadTests(TLSTransportTests):
    """The same, with pyOpenSSL's bindings doing OpenSSL's work from Python."""

    def setUp(self):
        super().setUp()
        self.patch(tlstransport.TLSFactory, "protocol", tlstransport.TLSTransport)

    def test_pythonRoad(self):
        self.open()
        self.assertIs(type(self.wire), tlstransport.TLSTransport)


@implementer(IHandshakeListener)
class Receiver(Protocol):
    """Writes through, as the service's connections do; says when TLS is up."""

    def __init__(self, handshaken):
        self.handshaken, self.received, self.lost = handshaken, defer.Deferred(), defer.Deferred()

    def connectionMade(self):
        writethrough.install(self.transport)

    def handshakeCompleted(self):
        self.handshaken.callback(self)

    def dataReceived(self, data):
        self.received.callback(data)

    def connectionLost(self, reason):
        self.lost.callback(None)


class RealSocketTests(TestCase):
    """On a loopback TCP connection, with a client of Python's ssl."""

    @defer.inlineCallbacks
    def setUp(self):
        pki = PKI(self.mktemp())
        tls = ServerTLS(KeyPair(pki.path("server.key"), pki.path("fullchain.pem")))
        handshaken = defer.Deferred()
        port = reactor.listenTCP(0, tlstransport.TLSFactory(
            tls, False, Factory.forProtocol(lambda: Receiver(handshaken))),
            interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        context = ssl.create_default_context(cafile=pki.path("ca.pem"))
        context.check_hostname = False
        raw = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=30)
        self.client = yield deferToThread(context.wrap_socket, raw)
        self.addCleanup(self.client.close)
        self.server = yield handshaken
        self.tcp = self.server.transport.transport

    def tearDown(self):
        self.tcp.abortConnection()
        return self.server.lost

    def test_writeGoesOutBeforeTheReactorTurns(self):
        self.server.transport.write(b"ok")
        self.assertNotIn(self.tcp, reactor.getWriters())
        self.assertEqual(self.client.recv(10), b"ok")

    @defer.inlineCallbacks
    def test_whatTheKernelLeavesWaitsInOrder(self):
        data = bytes(range(256)) * (BIG // 256)
        self.server.transport.write(data)
        self.server.transport.write(b"tail")
        self.assertIn(self.tcp, reactor.getWriters())
        received = yield deferToThread(readAll, self.client, len(data) + 4)
        self.assertEqual(received, data + b"tail")

    @defer.inlineCallbacks
    def test_read(self):
        self.client.sendall(b"tom")
        self.assertEqual((yield self.server.received), b"tom")


class PythonRoadRealSocketTests(RealSocketTests):
    def setUp(self):
        self.patch(tlstransport.TLSFactory, "protocol", tlstransport.TLSTransport)
        return super().setUp()

    def test_pythonRoad(self):
        self.assertIs(type(self.server.transport), tlstransport.TLSTransport)


class CompiledRoadTests(TestCase):
    def test_inUseHere(self):
        compiled = requireCompiled(tlstransport)
        self.assertIs(tlstransport.TLSFactory.protocol, tlstransport.CompiledTLSTransport)
        methods = vars(tlstransport.CompiledTLSTransport)
        self.assertIs(methods["write"], compiled.write)
        self.assertIs(methods["dataReceived"], compiled.dataReceived)

    def test_noAddressesNoCompiledRoad(self):
        requireCompiled(tlstransport)

        def noAddresses(names):
            raise AttributeError("no __self__")

        self.patch(openssl, "functionAddresses", noAddresses)
        self.assertEqual(tlstransport._compiled(), (
            None, "pyOpenSSL's bindings give no OpenSSL function addresses (no __self__)"))
