"""
Writes that go through: on a real loopback TCP connection, a write made
while nothing waits is on the socket before the reactor turns, and
everything else comes out as with Twisted's own queued writes (the same
tests run on both, and on the compiled send, which writes through in C):
order, producers, close after the last byte, half-close, a lost peer
noticed. And the same transport's reads (compiled where built), as
Twisted's: the bytes in order, the end of the stream, a reset.
"""

import os
import select
import socket
import struct
from collections import deque

from autobahn.websocket.protocol import TrafficStats
from twisted.internet import defer, error, main, reactor, tcp
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.interfaces import IPushProducer
from twisted.internet.testing import StringTransport
from twisted.internet.threads import deferToThread
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from tests.support.compiled import requireCompiled
from wss_service.fastpaths import frames, writethrough
from wss_service.fastpaths.frames import OPEN, SHORT_MAX, Counters, ShortRoad
from wss_service.fastpaths.writethrough import WriteThroughServer

BIG = 8 << 20


class Server(Protocol):
    def __init__(self, made, lost, writeThrough):
        self.made, self.lost, self.writeThrough = made, lost, writeThrough

    def connectionMade(self):
        if self.writeThrough:
            writethrough.install(self.transport)
        self.made.callback(self)

    def connectionLost(self, reason):
        self.lost.callback(reason.value)


@implementer(IPushProducer)
class Producer:
    def __init__(self):
        self.calls = []

    def pauseProducing(self):
        self.calls.append("pause")

    def resumeProducing(self):
        self.calls.append("resume")

    def stopProducing(self):
        self.calls.append("stop")


def readAll(client, size):
    """Read C{size} bytes, or to the end if L{None}, blocking (with a deadline)."""
    chunks, got = [], 0
    while size is None or got < size:
        chunk = client.recv(1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class Loopback(TestCase):
    """A loopback TCP connection: C{self.server} (a C{serverClass}) and C{self.client}."""

    writeThrough = True
    serverClass = Server

    @defer.inlineCallbacks
    def setUp(self):
        made, self.lost = defer.Deferred(), defer.Deferred()
        port = reactor.listenTCP(
            0, Factory.forProtocol(lambda: self.serverClass(made, self.lost, self.writeThrough)),
            interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.client = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=30)
        self.addCleanup(self.client.close)
        self.server = yield made
        self.transport = self.server.transport

    @defer.inlineCallbacks
    def tearDown(self):
        if not self.lost.called:
            self.transport.abortConnection()
        yield self.lost


class WriteThroughTests(Loopback):
    def write(self, data):
        self.transport.write(data)

    def test_sentBeforeTheReactorTurns(self):
        self.write(b"now")
        self.assertEqual(self.transport in reactor.getWriters(), not self.writeThrough)
        if self.writeThrough:
            self.client.setblocking(False)
            self.assertEqual(self.client.recv(10), b"now")

    def test_transport(self):
        self.assertIs(type(self.transport), WriteThroughServer)

    @defer.inlineCallbacks
    def test_whatTheKernelLeavesWaitsInOrderAndPausesTheProducer(self):
        producer = Producer()
        self.transport.registerProducer(producer, True)
        data = bytes(range(256)) * (BIG // 256)
        self.write(data)
        self.write(b"tail")
        self.assertIn(self.transport, reactor.getWriters())
        self.assertEqual(producer.calls, ["pause", "pause"])
        self.transport.loseConnection()
        self.write(b"after")
        expected = data + b"tail" + b"after"
        received = yield self.readInThread(len(expected))
        self.assertEqual(received, expected)
        self.assertEqual(producer.calls, ["pause"] * 3 + ["resume"], "a pause a queued write")
        # Twisted closes once the producer is gone.
        self.transport.unregisterProducer()
        yield self.lost
        self.assertEqual(readAll(self.client, None), b"")

    @defer.inlineCallbacks
    def test_whatWaitsAfterATurnStillComesFirst(self):
        data = bytes(range(256)) * (BIG // 256)
        self.write(data)
        # A turn's send: Twisted's queue moves on, part of it still waiting.
        self.transport.doWrite()
        self.assertEqual(self.transport._tempDataLen, 0)
        self.assertLess(self.transport.offset, len(self.transport.dataBuffer))
        # The peer takes what reached it: the kernel has room again.
        self.client.setblocking(False)
        first = b""
        while True:
            try:
                first += self.client.recv(1 << 20)
            except BlockingIOError:
                break
        self.client.settimeout(30)
        _, writable, _ = select.select([], [self.transport.socket], [], 30)
        self.assertTrue(writable)
        self.write(b"tail")
        received = first + (yield self.readInThread(len(data) + 4 - len(first)))
        self.assertEqual(received, data + b"tail")

    @defer.inlineCallbacks
    def test_halfClose(self):
        self.write(b"before")
        self.transport.loseWriteConnection()
        self.write(b"after")
        received = yield self.readInThread(None)
        self.assertEqual(received, b"beforeafter", "Twisted sends what is written while "
                         "the write side drains")

    @defer.inlineCallbacks
    def test_lostPeerNoticed(self):
        self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
        self.client.close()
        # The reset may reach the server's socket before or after these.
        for _ in range(100):
            self.write(b"x" * 65536)
        reason = yield self.lost
        self.assertFalse(self.transport.connected, reason)

    def readInThread(self, size):
        return deferToThread(readAll, self.client, size)


class TwistedsOwnWritesTests(WriteThroughTests):
    """The same, on Twisted's own transport: the reference."""

    writeThrough = False

    def test_transport(self):
        self.assertIs(type(self.transport), tcp.Server)


class Connection:
    """What the compiled send reads of a WebSocket connection."""

    def __init__(self, transport):
        self.transport = transport
        self.trafficStats = TrafficStats()


class CompiledSend:
    """Writes through the compiled send (C{frames.sendShort}), counted."""

    def setUp(self):
        self.compiled = requireCompiled(frames)
        return super().setUp()

    def write(self, data):
        connection = Connection(self.transport)
        self.compiled.sendShort(connection, data, len(data) - 1)
        stats = connection.trafficStats
        self.assertEqual((stats.outgoingWebSocketMessages, stats.outgoingWebSocketFrames,
                          stats.outgoingOctetsAppLevel, stats.outgoingOctetsWebSocketLevel,
                          stats.outgoingOctetsWireLevel),
                         (1, 1, len(data) - 1, len(data) - 1, len(data)))


class CompiledSendTests(CompiledSend, WriteThroughTests):
    """The same through the compiled send, which writes through in C."""


class CompiledSendOnTwistedsOwnTests(CompiledSend, TwistedsOwnWritesTests):
    """The compiled send on Twisted's own transport: its own write serves."""


class Member(ShortRoad):
    """What the compiled C{sendAll} reads of a plain member of a hub group."""

    def __init__(self, transport):
        self.state, self.backedUp, self.hubFraming = OPEN, False, None
        self._outLimit, self.send_queue = SHORT_MAX, deque()
        self.trafficStats, self.transport = Counters(), transport


class CompiledSendAll:
    """
    Writes through the compiled C{sendAll} to one lasting member, which it
    remembers between sends while nothing of it changes.
    """

    def setUp(self):
        self.compiled = requireCompiled(frames)
        return super().setUp()

    def write(self, data):
        if not hasattr(self, "member"):
            self.member = Member(self.transport)
        stats = self.member.trafficStats
        wire = stats.outgoingOctetsWireLevel
        # A payload within the short road's limit; its frame is the data.
        self.assertEqual(self.sendAll(data), (1, [], []))
        self.assertEqual(stats.outgoingOctetsWireLevel, wire + len(data))

    def sendAll(self, data):
        return self.compiled.sendAll({"member": self.member}, ["member"], (b"", False, data))


class CompiledSendAllTests(CompiledSendAll, WriteThroughTests):
    """The same through the compiled C{sendAll}, which writes through in C."""

    def test_remembered(self):
        remembered = self.compiled.remembered()
        for _ in range(3):
            self.write(b"x")
        self.assertEqual(self.compiled.remembered() - remembered,
                         2 if self.compiled.REMEMBERING else 0)

    def test_rememberedAfterTheClassesChanged(self):
        # A change to a class or a base (as a test's patch and its undoing)
        # leaves them without a version tag until a lookup gives one.
        for cls in (tcp.Connection, ShortRoad):
            cls.probe = None
            del cls.probe
        self.test_remembered()

    @defer.inlineCallbacks
    def test_aLostConnectionsDescriptorIsNotWrittenAgain(self):
        self.write(b"one")
        descriptor = self.transport.fileno()
        self.transport.abortConnection()
        yield self.lost
        self.assertRaises(OSError, os.fstat, descriptor)
        # Another socket on the very descriptor the connection had.
        mine, theirs = socket.socketpair()
        self.addCleanup(mine.close)
        self.addCleanup(theirs.close)
        if mine.fileno() != descriptor:
            os.dup2(mine.fileno(), descriptor)
            self.addCleanup(os.close, descriptor)
        self.assertEqual(self.sendAll(b"two"), (1, [], []))
        theirs.setblocking(False)
        self.assertRaises(BlockingIOError, theirs.recv, 10)

    @defer.inlineCallbacks
    def test_aChangeToTheTransportsClassIsSeen(self):
        self.write(b"one")
        self.assertNotIn("disconnecting", vars(self.transport), "the class's")
        WriteThroughServer.disconnecting = True
        try:
            self.write(b"two")
        finally:
            del WriteThroughServer.disconnecting
        self.assertIn(self.transport, reactor.getWriters(), "queued, as Twisted's write does")
        received = yield self.readInThread(6)
        self.assertEqual(received, b"onetwo")


class CompiledSendAllOnTwistedsOwnTests(CompiledSendAll, TwistedsOwnWritesTests):
    """The compiled C{sendAll} on Twisted's own transport: its own write serves."""


class Reader(Server):
    """Keeps what it reads; C{wanted} fires once C{size} bytes came."""

    def __init__(self, *args):
        super().__init__(*args)
        self.chunks, self.size, self.wanted = [], 0, defer.Deferred()

    def dataReceived(self, data):
        self.chunks.append(data)
        if sum(map(len, self.chunks)) >= self.size and not self.wanted.called:
            self.wanted.callback(b"".join(self.chunks))


class ReadTests(Loopback):
    serverClass = Reader

    def test_transport(self):
        self.assertIs(type(self.transport), WriteThroughServer)
        if frames.compiled:
            self.assertIs(vars(WriteThroughServer)["doRead"], frames.compiled.doRead)

    @defer.inlineCallbacks
    def test_bytesInOrder(self):
        data = os.urandom(300_000)
        self.server.size = len(data)
        self.client.sendall(data)
        self.assertEqual((yield self.server.wanted), data)
        self.assertLessEqual(max(map(len, self.server.chunks)), self.transport.bufferSize)

    def test_nothingToRead(self):
        self.assertIsNone(self.transport.doRead())
        self.assertEqual(self.server.chunks, [])
        self.assertTrue(self.transport.connected)

    @defer.inlineCallbacks
    def test_endOfStream(self):
        self.server.size = 3
        self.client.sendall(b"tom")
        self.client.shutdown(socket.SHUT_WR)
        reason = yield self.lost
        self.assertIsInstance(reason, error.ConnectionDone)
        self.assertEqual(b"".join(self.server.chunks), b"tom")

    def test_reset(self):
        # On, with no time to linger: close sends a reset.
        self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.client.close()
        readable, _, _ = select.select([self.transport.socket], [], [], 30)
        self.assertTrue(readable, "the reset arrived")
        self.assertIs(self.transport.doRead(), main.CONNECTION_LOST)


class TwistedsOwnReadTests(ReadTests):
    """The same, on Twisted's own transport: the reference."""

    writeThrough = False

    def test_transport(self):
        self.assertIs(type(self.transport), tcp.Server)


class InstallTests(TestCase):
    def test_foundUnderWrappers(self):
        server = tcp.Server.__new__(tcp.Server)
        wrapper = ProtocolWrapper(WrappingFactory(Factory()), Protocol())
        wrapper.transport = server
        writethrough.install(wrapper)
        self.assertIs(type(server), WriteThroughServer)

    def test_otherTransportsKeepTheirWrites(self):
        transport = StringTransport()
        writethrough.install(transport)
        self.assertIs(type(transport), StringTransport)

    def test_twistedChanged(self):
        self.assertIsNone(writethrough.missing())
        self.patch(writethrough, "TWISTED", writethrough.TWISTED + ("_renamed",))
        self.assertEqual(writethrough.missing(), "Twisted's tcp.Server lacks _renamed")
        self.patch(tcp.Server, "write", lambda self, data: None)
        self.assertIn("writes in a way this does not know", writethrough.missing())

    def test_twistedComputes(self):
        self.patch(tcp.Server, "offset", property(lambda self: 0))
        self.assertEqual(writethrough.missing(), "Twisted's tcp.Server computes offset")
