"""
Memory that idle wss connections give back. OpenSSL's memory BIOs keep the
largest buffer they ever held: the handshake's few KiB, and after a burst
up to a 64 KiB read in and a 16 KiB record out, for the rest of the
connection. Fresh, empty BIOs hold nothing.
"""

from twisted.application.service import Service
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.task import LoopingCall

from wss_service.fastpaths.openssl import ffi as _ffi, lib as _lib

SWEEP_SECONDS = 30.0


def releaseBuffers(connection):
    """
    Give a pyOpenSSL C{Connection} on memory BIOs fresh ones, if its own
    are empty.

    @return: whether they were swapped.
    """
    old = (connection._into_ssl, connection._from_ssl)
    if any(_lib.BIO_get_mem_data(bio, _ffi.NULL) for bio in old):
        return False
    into, out = _lib.BIO_new(_lib.BIO_s_mem()), _lib.BIO_new(_lib.BIO_s_mem())
    if _ffi.NULL in (into, out):
        for bio in (into, out):
            if bio != _ffi.NULL:
                _lib.BIO_free(bio)
        return False
    _lib.SSL_set_bio(connection._ssl, into, out)
    connection._into_ssl, connection._from_ssl = into, out
    return True


class BufferReleaser(Service):
    """
    Every C{interval} seconds, releases the buffers of the TLS connections
    that carried traffic before the last look and none since.
    """

    def __init__(self, factory, interval, clock):
        self.factory = factory
        self._marks = {}
        self._interval = interval
        self._loop = LoopingCall(self.sweep)
        self._loop.clock = clock

    def startService(self):
        super().startService()
        self._loop.start(self._interval, now=False)

    def stopService(self):
        if self._loop.running:
            self._loop.stop()
        return super().stopService()

    def sweep(self):
        marks = {}
        for protocol in self.factory.connections:
            transport = protocol.transport
            if protocol.trafficStats is None or not ISSLTransport.providedBy(transport):
                continue
            stats = protocol.trafficStats
            mark = stats.incomingOctetsWireLevel + stats.outgoingOctetsWireLevel
            seen, released = self._marks.get(protocol, (None, True))
            if mark != seen:
                released = False
            elif not released:
                released = releaseBuffers(transport.getHandle())
            marks[protocol] = (mark, released)
        self._marks = marks
