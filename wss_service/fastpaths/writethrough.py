"""
Writes that go to the socket at once.

Twisted's TCP transport never sends in C{write}: it queues the bytes,
registers for C{EPOLLOUT} and sends on the next reactor turn, then
unregisters (a turn and two C{epoll_ctl} calls a message). Here a write
made while nothing waits in the transport's queue is sent straight away;
what the kernel does not take, and every write made while something
waits, joins Twisted's queue as before, so order, producers (the send
limit's pause), C{loseConnection} and half-close behave as they do
without it. Under TLS it is the encrypted bytes that go through.

Applied per connection, by giving its TCP transport (exactly Twisted's
C{tcp.Server}, found under any wrappers) this subclass. Where the compiled
short road is built, the subclass's reads are C too (C{doRead}, set by
frames.py): Twisted's C{doRead} and C{_dataReceived} in one call.
"""

from errno import EAGAIN, EINTR, ENOBUFS, EWOULDBLOCK

from twisted.internet import _newtls, tcp

from wss_service.fastpaths.compiled import described

# What this reads of Twisted's transport beyond its public interface.
TWISTED = ("TLS", "_tempDataLen", "dataBuffer", "offset", "connected", "disconnecting",
           "_writeDisconnecting", "_writeDisconnected", "socket", "fileno", "bufferSize",
           "protocol")
# An error that means "not now", not "connection lost".
_LATER = frozenset((EAGAIN, EWOULDBLOCK, ENOBUFS, EINTR))


def missing():
    """Why writes cannot go through here, or L{None} if they can."""
    if tcp.Server.write is not _newtls.ConnectionMixin.write:
        return "Twisted's tcp.Server writes in a way this does not know"
    if tcp.Server.doRead is not tcp.Connection.doRead:
        return "Twisted's tcp.Server reads in a way this does not know"
    absent = [name for name in TWISTED
              if not hasattr(tcp.Server, name) and name not in _setOnEachConnection()]
    if absent:
        return f"Twisted's tcp.Server lacks {', '.join(absent)}"
    # The compiled send (frames.sendShort) reads them as plain values.
    properties = described(tcp.Server, TWISTED)
    if properties:
        return f"Twisted's tcp.Server computes {', '.join(properties)}"
    return None


def _setOnEachConnection():
    """The names the C{__init__}s of C{tcp.Server}'s classes use."""
    inits = (vars(cls).get("__init__") for cls in tcp.Server.__mro__)
    return {name for init in inits if hasattr(init, "__code__")
            for name in init.__code__.co_names}


class WriteThroughServer(tcp.Server):
    """Twisted's TCP server transport, sending at once when nothing waits."""

    def write(self, data):
        if (type(data) is bytes and data and not self.TLS and not self._tempDataLen
                and self.offset == len(self.dataBuffer) and self.connected
                and not (self.disconnecting or self._writeDisconnecting
                         or self._writeDisconnected)):
            try:
                sent = self.socket.send(data)
            except OSError as e:
                # Lost: Twisted's queue sends again, hears it, and closes.
                sent = 0
                if e.errno not in _LATER:
                    return tcp.Server.write(self, data)
            if sent == len(data):
                return None
            data = data[sent:]
        return tcp.Server.write(self, data)


def install(transport):
    """
    Give the TCP transport under C{transport} (itself or below its
    wrappers) writes that go through; other kinds keep their own.
    """
    while transport is not None:
        if type(transport) is tcp.Server:
            transport.__class__ = WriteThroughServer
            return
        transport = getattr(transport, "transport", None)
