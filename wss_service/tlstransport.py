"""
The TLS layer under every wss connection: Twisted's TLSMemoryBIOProtocol
on a shorter road for the common case.

Twisted's default TLS transport gathers small writes for one reactor turn
behind a timer per connection, and reads OpenSSL's memory BIOs until
WantReadError, with a fresh 32 KiB buffer for each read. A WebSocket message
is one write, so here each write goes straight to OpenSSL (one TLS record a
message), and the BIOs are asked how much they hold before they are read,
through one shared buffer. Anything but application data and "want more"
(close_notify, an alert, an error), the handshake and the connection's
end are left to Twisted's own code.
"""

from OpenSSL._util import ffi as _ffi, lib as _lib
from twisted.protocols.policies import ProtocolWrapper
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol

SIZE = 1 << 15
WANT_READ = _lib.SSL_ERROR_WANT_READ
# The reactor runs one thing at a time, and what is read is copied out
# before the next read.
_buffer = _ffi.new("char[]", SIZE)


def _pending(bio):
    return _lib.BIO_get_mem_data(bio, _ffi.NULL)


class TLSTransport(TLSMemoryBIOProtocol):
    _ending = False

    def _flushSendBIO(self):
        bio = self._tlsConnection._from_ssl
        while _pending(bio):
            self.transport.write(_ffi.buffer(_buffer, _lib.BIO_read(bio, _buffer, SIZE))[:])

    def _flushReceiveBIO(self):
        if self._ending or not self._handshakeDone:
            return super()._flushReceiveBIO()
        connection = self._tlsConnection
        ssl = connection._ssl
        while not self._lostTLSConnection and (
                _lib.SSL_pending(ssl) or _pending(connection._into_ssl)):
            received = _lib.SSL_read(ssl, _buffer, SIZE)
            if received > 0:
                if not self._aborted:
                    ProtocolWrapper.dataReceived(self, _ffi.buffer(_buffer, received)[:])
            elif _lib.SSL_get_error(ssl, received) == WANT_READ:
                break
            else:
                # Twisted's own road asks OpenSSL again, and hears the same.
                return super()._flushReceiveBIO()
        self._flushSendBIO()

    def connectionLost(self, reason):
        # Twisted reads what is left, and learns how TLS ended.
        self._ending = True
        super().connectionLost(reason)


class TLSFactory(TLSMemoryBIOFactory):
    protocol = TLSTransport
