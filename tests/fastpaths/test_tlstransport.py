"""
The TLS transport under wss connections: the same bytes as Twisted's own,
however the records are cut into reads, each write out at once, and TLS
endings and errors handled by Twisted's own code.
"""

import os

from hypothesis import HealthCheck, given, settings, strategies as st
from OpenSSL import SSL
from zope.interface import implementer
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import TestCase

from tests.support.compiled import requireCompiled
from tests.support.handshake import clientFrame, request, serverFrames
from tests.support.tlswire import TLSWire
from tests.test_protocol import factory
from wss_service.apps import EchoProtocol
from wss_service.fastpaths import openssl, tlstransport

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


class CompiledRoadTests(TestCase):
    def test_inUseHere(self):
        requireCompiled(tlstransport)
        self.assertIs(tlstransport.TLSFactory.protocol, tlstransport.CompiledTLSTransport)

    def test_noAddressesNoCompiledRoad(self):
        requireCompiled(tlstransport)

        def noAddresses(names):
            raise AttributeError("no __self__")

        self.patch(openssl, "functionAddresses", noAddresses)
        self.assertEqual(tlstransport._compiled(), (
            None, "pyOpenSSL's bindings give no OpenSSL function addresses (no __self__)"))
