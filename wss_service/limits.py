"""
Limits that keep one client from hurting the rest, checked outside the
per-message path: a slow reader is noticed by Twisted's own flow control,
an idle one by a periodic sweep over Autobahn's message counters.
"""

from autobahn.websocket.protocol import WebSocketProtocol
from twisted.application.service import Service
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

log = Logger(namespace="wss")


@implementer(IPushProducer)
class SendGuard:
    """
    Registered on a connection's transport. Twisted pauses it once more
    than the transport's buffer (64 KiB) waits for the client; if the client
    has not read it within C{timeout} seconds, the connection is cut.
    """

    def __init__(self, protocol, timeout, clock):
        self.protocol = protocol
        self.timeout = timeout
        self.clock = clock
        self._call = None

    def pauseProducing(self):
        # Over its send limit: hub sends pass it over until it reads.
        self.protocol.backedUp = True
        if self._call is None:
            self._call = self.clock.callLater(self.timeout, self._cut)

    def resumeProducing(self):
        self.protocol.backedUp = False
        self.stopProducing()

    def stopProducing(self):
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _cut(self):
        self._call = None
        protocol = self.protocol
        log.warn("cutting {client}: it read nothing for {timeout}s with output waiting",
                 client=protocol.clientAddress, timeout=self.timeout)
        protocol.factory.metrics.limitCloses["send_timeout"] += 1
        protocol.dropConnection(abort=True)


class IdleSweeper(Service):
    """
    Closes (1000, "idle timeout") connections that have sent and received
    no message for C{timeout} seconds; it looks every C{timeout / 2}.
    """

    def __init__(self, factory, timeout, clock):
        self.factory = factory
        self.timeout = timeout
        self._marks = {}
        self._loop = LoopingCall(self.sweep)
        self._loop.clock = clock

    def startService(self):
        super().startService()
        self._loop.start(self.timeout / 2, now=False)

    def stopService(self):
        if self._loop.running:
            self._loop.stop()
        return super().stopService()

    def sweep(self):
        now = self._loop.clock.seconds()
        marks = {}
        for protocol in self.factory.connections:
            if protocol.state != WebSocketProtocol.STATE_OPEN:
                continue
            stats = protocol.trafficStats
            mark = (stats.incomingWebSocketMessages, stats.outgoingWebSocketMessages)
            seen, since = self._marks.get(protocol, (None, now))
            if mark != seen:
                since = now
            elif now - since >= self.timeout:
                self.factory.metrics.limitCloses["idle"] += 1
                protocol.sendClose(1000, "idle timeout")
                continue
            marks[protocol] = (mark, since)
        self._marks = marks
