"""
A wss connection in memory: the service's TLS transport in front of a
factory, over a StringTransport, with a pyOpenSSL client on the other end.
"""

from OpenSSL import SSL
from twisted.internet.address import IPv4Address

from tests.support.handshake import InMemory, Transport
from tests.support.pki import PKI
from wss_service.tls import KeyPair, ServerTLS
from wss_service.fastpaths.tlstransport import TLSFactory


class TLSWire(InMemory):
    """
    Mixin for TestCase: L{connectTLS} makes C{self.wire} (the server's TLS
    protocol), C{self.transport} (what it writes) and C{self.client}.
    """

    tls = None

    def connectTLS(self, factory):
        if self.tls is None:
            pki = PKI(self.mktemp())
            self.tls = ServerTLS(KeyPair(pki.path("server.key"), pki.path("fullchain.pem")))
        wrapper = TLSFactory(self.tls, False, factory, clock=self.clock)
        address = IPv4Address("TCP", "127.0.0.1", 40000)
        self.wire = wrapper.buildProtocol(address)
        self.transport = Transport(peerAddress=address)
        self.wire.makeConnection(self.transport)
        self.protocols.append((self.wire, self.transport))
        self.client = SSL.Connection(SSL.Context(SSL.TLS_CLIENT_METHOD), None)
        self.client.set_connect_state()

    def clientBytes(self):
        """What the client has written, as it goes on the wire."""
        try:
            return self.client.bio_read(1 << 24)
        except SSL.WantReadError:
            return b""

    def exchange(self, data=b"", chunks=None):
        """
        Send C{data} through TLS and return what comes back, decrypted.

        @param chunks: if given, a function that splits the client's bytes
            into the pieces the server receives.
        """
        if data:
            self.client.sendall(data)
        answer = b""
        for _ in range(50):
            try:
                self.client.do_handshake()
            except SSL.WantReadError:
                pass
            wire = self.clientBytes()
            for piece in (chunks(wire) if chunks and wire else [wire]):
                if piece:
                    self.wire.dataReceived(piece)
            self.clock.advance(0)
            if self.transport.value():
                self.client.bio_write(self.transport.value())
                self.transport.clear()
            try:
                while True:
                    answer += self.client.recv(1 << 20)
            except SSL.WantReadError:
                pass
        return answer
