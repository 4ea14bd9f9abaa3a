"""
A worker's listening ports accept one connection a turn (the workers
themselves: tests/integration/test_workers.py).
"""

import socket
import struct
import time

from twisted.internet import reactor, tcp, unix
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import TestCase

from wss_service.fastpaths import accepts
from wss_service.fastpaths.accepts import takeTurns

# struct tcp_info: for a listening socket, tcpi_unacked is how many
# connections wait in its accept queue (Linux).
UNACKED = struct.Struct("=24xI")


def waiting(port):
    """How many connections wait to be accepted on C{port} (Linux)."""
    info = port.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, UNACKED.size)
    return UNACKED.unpack(info)[0]


class Counted(Factory):
    protocol = Protocol

    def __init__(self):
        self.built = []

    def buildProtocol(self, address):
        protocol = super().buildProtocol(address)
        self.built.append(protocol)
        return protocol


class TakeTurnsTests(TestCase):
    def listen(self, factory):
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return port

    def connectClients(self, port, count):
        """C{count} clients connected and waiting in C{port}'s accept queue."""
        for _ in range(count):
            client = socket.create_connection(("127.0.0.1", port.getHost().port))
            self.addCleanup(client.close)
        deadline = time.monotonic() + 10
        while waiting(port) < count:
            self.assertLess(time.monotonic(), deadline, "the connections never arrived")
            time.sleep(0.01)

    def accepted(self, factory):
        """Close what C{factory} built when the test ends; how many."""
        for protocol in factory.built:
            if not getattr(protocol, "closing", False):
                protocol.closing = True
                self.addCleanup(protocol.transport.abortConnection)
        return len(factory.built)

    def test_oneConnectionATurn(self):
        factory = Counted()
        port = takeTurns(self.listen(factory))
        self.connectClients(port, 3)
        for turn in (1, 2, 3):
            port.doRead()
            self.assertEqual(self.accepted(factory), turn)
            self.assertEqual(waiting(port), 3 - turn)
        self.assertEqual(port.numberAccepts, 1)

    def test_twistedsOwnTakesAll(self):
        # What a worker did before: the first to wake took the whole burst.
        factory = Counted()
        port = self.listen(factory)
        self.connectClients(port, 3)
        port.doRead()
        self.assertEqual(self.accepted(factory), 3)

    def test_otherPortsLeftAlone(self):
        class Other(tcp.Port):
            pass

        port = Other(0, Counted(), interface="127.0.0.1")
        port.startListening()
        self.addCleanup(port.stopListening)
        self.assertIs(takeTurns(port), port)
        self.assertIs(type(port), Other)
        self.assertEqual(port.numberAccepts, 100)


class MissingTests(TestCase):
    def test_servesHere(self):
        self.assertIsNone(accepts.missing())

    def test_twistedChanged(self):
        def doRead(self):
            pass

        self.patch(unix.Port, "doRead", doRead)
        self.assertIn("UNIX port", accepts.missing())
        self.patch(tcp.Port, "doRead", doRead)
        self.assertIn("numberAccepts", accepts.missing())
