"""Drive a server protocol in memory, byte by byte, over StringTransport."""

import os
import struct

import txaio
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.internet.error import ConnectionDone

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def request(path="/wss", **headers):
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: localhost:8282",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
    ] + [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def clientFrame(payload, opcode=0x1):
    """A masked client frame, as RFC 6455 requires."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    return header + mask + masked


def serverFrames(data):
    """
    The C{(opcode, payload)} of every whole unmasked frame in C{data}, after
    the HTTP response head if C{data} starts with one.
    """
    if data.startswith(b"HTTP/"):
        data = data[data.index(b"\r\n\r\n") + 4:]
    frames = []
    position = 0
    while len(data) - position >= 2:
        opcode, length = data[position] & 0x0F, data[position + 1] & 0x7F
        start = position + 2
        if length == 126:
            length, start = struct.unpack_from("!H", data, start)[0], start + 2
        elif length == 127:
            length, start = struct.unpack_from("!Q", data, start)[0], start + 8
        if len(data) < start + length:
            break
        frames.append((opcode, data[start:start + length]))
        position = start + length
    return frames


def closeCode(data):
    """The code of the first close frame the server sent in C{data}, or None."""
    for opcode, payload in serverFrames(data):
        if opcode == 0x8:
            return struct.unpack("!H", payload[:2])[0]
    return None


class Transport(StringTransport):
    """Like a real transport, tolerates unregistering no producer (Autobahn does)."""

    def unregisterProducer(self):
        if self.producer is not None:
            super().unregisterProducer()


class InMemory:
    """
    Mixin for TestCase: runs Autobahn's timers on a L{Clock} and loses every
    connection it made when the test ends, so trial's reactor stays clean.
    """

    def setUp(self):
        self.clock = Clock()
        self._loop = txaio.config.loop
        txaio.config.loop = self.clock
        self.addCleanup(setattr, txaio.config, "loop", self._loop)
        self.protocols = []

    def tearDown(self):
        for protocol, _ in self.protocols:
            self.lose(protocol)

    def lose(self, protocol):
        """The client went away (once per protocol)."""
        if not getattr(protocol, "_lostInTest", False):
            protocol._lostInTest = True
            protocol.connectionLost(Failure(ConnectionDone()))

    def connect(self, factory, peer="127.0.0.1"):
        address = IPv4Address("TCP", peer, 40000)
        protocol = factory.buildProtocol(address)
        transport = Transport(peerAddress=address)
        protocol.makeConnection(transport)
        self.protocols.append((protocol, transport))
        return protocol, transport

    def handshake(self, factory, peer="127.0.0.1", path="/wss", **headers):
        protocol, transport = self.connect(factory, peer)
        protocol.dataReceived(request(path, **headers))
        return protocol, transport
