"""
The TLS layer under every wss connection: Twisted's TLSMemoryBIOProtocol
on a shorter road for the common case.

Twisted's default TLS transport gathers small writes for one reactor turn
behind a timer per connection, and reads OpenSSL's memory BIOs until
WantReadError, with a fresh 32 KiB buffer for each read. A WebSocket message
is one write, so here each write goes straight to OpenSSL (one TLS record a
message), bytes pass to and from OpenSSL without pyOpenSSL's per-call
checks, and the BIOs are asked how much they hold before they are read,
through one shared buffer. A write made while others wait for the handshake
queues behind them (Twisted's would pass them). Anything but application
data and "want more" (close_notify, an alert, an error), the handshake and
the connection's end are left to Twisted's own code.

Where the optional compiled module C{_wss_tls} is built
(C{wss_service/fastpaths/_wss_tls.c}), the per-message methods are C
(L{CompiledTLSTransport}): a read's and a write's work with OpenSSL, and
the records passed to the TCP transport through C{_wss_frames}' write
where that is built; otherwise, or with C{WSS_SERVICE_PURE_PYTHON=1},
pyOpenSSL's bindings do it from Python (L{TLSTransport}), with the same
results.
"""

from OpenSSL import SSL
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.protocols.policies import ProtocolWrapper
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from zope.interface import implementer

from wss_service.fastpaths import compiled as compiledModules, frames, openssl
from wss_service.fastpaths.openssl import ffi as _ffi, lib as _lib

SIZE = 1 << 15
# What this expects of the compiled module (its API number), and the
# OpenSSL functions it calls, in the order its bind() takes them.
COMPILED_API = 2
COMPILED_CALLS = ("SSL_read", "SSL_write", "SSL_pending", "SSL_get_error", "BIO_read",
                  "BIO_write", "BIO_get_mem_data")
# What this layer uses of Twisted's, beyond its public interface.
TWISTED = ("_write", "_bufferedWrite", "_flushSendBIO", "_flushReceiveBIO",
           "_handshakeDone", "_lostTLSConnection", "_aborted", "_producer", "disconnecting")
TWISTED_PER_CONNECTION = ("_appSendBuffer", "_tlsConnection")


@implementer(IOpenSSLServerConnectionCreator)
class _ProbeCreator:
    def serverConnectionForTLS(self, tlsProtocol):
        return SSL.Connection(SSL.Context(SSL.TLS_SERVER_METHOD), None)


def missing():
    """Why this layer cannot serve here, or L{None} if it can."""
    problem = openssl.missing()
    if problem:
        return problem
    absent = [name for name in TWISTED if not hasattr(TLSMemoryBIOProtocol, name)]
    # The attributes Twisted sets on each connection, on one made in memory.
    factory = TLSMemoryBIOFactory(_ProbeCreator(), False, Factory.forProtocol(Protocol),
                                  clock=Clock())
    probe = factory.buildProtocol(None)
    probe.makeConnection(StringTransport())
    absent += [name for name in TWISTED_PER_CONNECTION if not hasattr(probe, name)]
    if absent:
        return f"Twisted's TLSMemoryBIOProtocol lacks {', '.join(absent)}"
    return None


if _lib is not None:
    WANT_READ = _lib.SSL_ERROR_WANT_READ
    # The reactor runs one thing at a time, and what is read is copied out
    # before the next read.
    _buffer = _ffi.new("char[]", SIZE)


def _pending(bio):
    return _lib.BIO_get_mem_data(bio, _ffi.NULL)


class TLSTransport(TLSMemoryBIOProtocol):
    _ending = False

    def dataReceived(self, data):
        # Twisted's road while the handshake runs or writes wait for it. A
        # memory BIO takes all or, out of memory, nothing: then pyOpenSSL raises.
        if self._handshakeDone and not self._appSendBuffer and _lib.BIO_write(
                self._tlsConnection._into_ssl, data, len(data)) == len(data):
            self._flushReceiveBIO()
        else:
            super().dataReceived(data)

    def _write(self, data):
        if self._appSendBuffer:
            # Behind the writes that wait for the handshake, not ahead of them.
            return self._bufferedWrite(data)
        if type(data) is bytes:
            sent = _lib.SSL_write(self._tlsConnection._ssl, data, len(data))
            if sent > 0:
                self._flushSendBIO()
                data = data[sent:]
        # What OpenSSL did not take, Twisted's road offers again, as OpenSSL
        # asks, and handles what it answers.
        if data:
            super()._write(data)

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


class CompiledTLSTransport(TLSTransport):
    """
    L{TLSTransport}, with C{write} and C{dataReceived} in C{_wss_tls}.

    An attribute read on a C{ProtocolWrapper} misses CPython's fast path
    (its C{__getattr__} forwards what the class lacks to the TCP
    transport), so the per-message methods read the connection's state
    from its C{__dict__}, where L{makeConnection} puts every name they use.
    Anything but the common case they hand to L{TLSTransport}'s road.
    """

    def makeConnection(self, transport):
        # Twisted's class defaults, on the instance.
        vars(self).update(_handshakeDone=False, _lostTLSConnection=False, _aborted=False,
                          _ending=False, _producer=None, disconnecting=False,
                          _openssl=(None, None))
        super().makeConnection(transport)


def _addresses(state):
    """
    The addresses of the C{SSL} and memory BIOs of the connection whose
    C{__dict__} is C{state}, kept there as C{(receive BIO, addresses)}:
    the BIOs change when idle buffers are released (see tlsbuffers).
    """
    connection = state["_tlsConnection"]
    addresses = (openssl.address(connection._ssl), openssl.address(connection._into_ssl),
                 openssl.address(connection._from_ssl))
    state["_openssl"] = (connection._into_ssl, addresses)
    return addresses


def _compiled():
    """C{(the compiled module, bound to pyOpenSSL's OpenSSL, or None, why not)}."""
    module, why = compiledModules.load("_wss_tls", COMPILED_API)
    if module is None or _lib is None:
        return None, why or "pyOpenSSL has no OpenSSL._util bindings"
    try:
        module.bind(*openssl.functionAddresses(COMPILED_CALLS), WANT_READ,
                    # What its methods hand on: to the Python road, Twisted's,
                    # and the TCP transport's write (through where compiled).
                    _addresses, TLSMemoryBIOProtocol.write, TLSMemoryBIOProtocol._write,
                    TLSTransport.dataReceived, TLSMemoryBIOProtocol._flushReceiveBIO,
                    frames.compiled.WRITE_OUT if frames.compiled else None)
    except (AttributeError, TypeError, ValueError, _ffi.error) as e:
        return None, f"pyOpenSSL's bindings give no OpenSSL function addresses ({e})"
    return module, None


compiled, notCompiled = _compiled()
if compiled:
    # Its per-message methods, C functions that bind as methods do.
    CompiledTLSTransport.write = compiled.write
    CompiledTLSTransport.dataReceived = compiled.dataReceived


class TLSFactory(TLSMemoryBIOFactory):
    protocol = CompiledTLSTransport if compiled else TLSTransport
