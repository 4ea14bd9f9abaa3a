"""
The Autobahn factory: the service's settings, and every live connection.
"""

from collections import Counter
from dataclasses import dataclass

from autobahn.twisted.websocket import WebSocketServerFactory
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from autobahn.websocket.types import ConnectionDeny
from twisted.internet import defer

from wss_service import fastpaths
from wss_service.fastpaths.timers import Timers
from wss_service.hub.hub import Hub
from wss_service.metrics import Metrics
from wss_service.protocol import normalizeOrigin, serviceProtocol

MiB = 1024 * 1024


@dataclass
class Settings:
    """
    Everything a factory needs to know, with the service's defaults: the
    command line's defaults are these.
    """

    paths: tuple = ()
    origins: tuple = ()
    trustedProxies: tuple = ()
    maxMessageSize: int = MiB
    maxFrameSize: int = MiB
    handshakeTimeout: float = 5.0
    pingInterval: float = 20.0
    pingTimeout: float = 20.0
    maxConnections: int = 0
    maxConnectionsPerIP: int = 1000
    sendTimeout: float = 30.0
    compression: bool = False


class ServiceFactory(WebSocketServerFactory):
    """
    Builds the app's protocol with L{wss_service.protocol.ServiceProtocol}
    in front, and keeps the set of live connections for a graceful drain.
    """

    # The service says where it listens, in URLs, instead.
    noisy = False

    def __init__(self, app, settings=None, reactor=None, fast=None, hub=None, tokens=None):
        """
        @param fast: the L{FastPaths} to use; by default every one the
            installed libraries allow.
        @param hub: the L{Hub}; by default one in memory.
        @param tokens: the L{Tokens} that verify C{?token=}, if any.
        """
        super().__init__(server="wss-service", reactor=reactor)
        settings = settings or Settings()
        self.fast = fast if fast is not None else fastpaths.available()
        if self.fast.timers:
            self._batched_timer = Timers(self.reactor)
        self.hub = hub if hub is not None else Hub(self.reactor)
        self.tokens = tokens
        self.paths = frozenset(settings.paths)
        self.origins = frozenset(normalizeOrigin(o) for o in settings.origins)
        self.trustedProxies = tuple(settings.trustedProxies)
        self.maxConnectionsPerIP = settings.maxConnectionsPerIP
        self.sendTimeout = settings.sendTimeout
        self.metrics = Metrics()
        self.connections = set()
        self.perAddress = Counter()
        self._drained = []
        self.setProtocolOptions(
            webStatus=False,
            failByDrop=False,
            maxMessagePayloadSize=settings.maxMessageSize,
            maxFramePayloadSize=settings.maxFrameSize,
            openHandshakeTimeout=settings.handshakeTimeout,
            autoPingInterval=settings.pingInterval,
            autoPingTimeout=settings.pingTimeout,
            maxConnections=settings.maxConnections,
            allowNullOrigin=True,
        )
        if settings.compression:
            self.setProtocolOptions(perMessageCompressionAccept=self.acceptDeflate)
        self.protocol = serviceProtocol(
            app, {name: getattr(self, name) for name in app.CONFIG_ATTRS}, self.fast)

    def acceptDeflate(self, offers):
        """
        Accept permessage-deflate; Autobahn stops inflating a message at the
        message size limit, so a deflate bomb closes with 1009.
        """
        for offer in offers:
            if isinstance(offer, PerMessageDeflateOffer):
                return PerMessageDeflateOfferAccept(
                    offer, max_message_size=self.maxMessagePayloadSize or None)
        return None

    def admit(self, protocol):
        """Count a handshaking client; refuse it past the per-address limit."""
        address = protocol.clientAddress
        if self.maxConnectionsPerIP and self.perAddress[address] >= self.maxConnectionsPerIP:
            raise ConnectionDeny(429, f"too many connections from {address}")
        self.perAddress[address] += 1
        protocol.admitted = True

    def forget(self, protocol):
        self.connections.discard(protocol)
        if protocol.admitted:
            self.perAddress[protocol.clientAddress] -= 1
            if not self.perAddress[protocol.clientAddress]:
                del self.perAddress[protocol.clientAddress]
        if not self.connections:
            drained, self._drained = self._drained, []
            for d in drained:
                d.callback(None)

    def goAway(self, timeout):
        """
        Close every connection with 1001 (going away).

        @return: a L{Deferred} that fires once all are gone, or after
            C{timeout} seconds with the stragglers dropped.
        """
        if not self.connections:
            return defer.succeed(None)
        for protocol in list(self.connections):
            protocol.goAway(timeout)
        d = defer.Deferred()
        self._drained.append(d)
        timer = self.reactor.callLater(timeout, self._abortAll)

        def stopTimer(result):
            if timer.active():
                timer.cancel()
            return result

        return d.addBoth(stopTimer)

    def _abortAll(self):
        for protocol in list(self.connections):
            protocol.dropConnection(abort=True)
