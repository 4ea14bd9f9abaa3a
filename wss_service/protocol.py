"""
What the service adds to every app's protocol, at connect and close time
only: nothing here runs per message.
"""

from http import HTTPStatus
from urllib.parse import urlsplit

from autobahn.websocket.protocol import WebSocketProtocol
from autobahn.websocket.types import ConnectionDeny
from OpenSSL import SSL
from twisted.internet.interfaces import ISSLTransport
from twisted.logger import Logger

from wss_service.fastpaths import writethrough
from wss_service.fastpaths.frames import ShortRoad, takesShortRoad
from wss_service.fastpaths.quietsettings import QuietSettings
from wss_service.fastpaths.tlsbuffers import releaseBuffers
from wss_service.httphead import headProblem
from wss_service.hub.errors import HubUnavailable
from wss_service.hub.subprotocol import SUBPROTOCOL, BadResume, Framing, parseResume
from wss_service.hub.tokens import TokenRefused
from wss_service.limits import SendGuard
from wss_service.realip import clientAddress

GOING_AWAY = 1001

log = Logger(namespace="wss")


def normalizeOrigin(origin):
    """C{Scheme://Host:443} -> C{scheme://host}; C{null} stays C{null}."""
    if origin == "null":
        return origin
    parts = urlsplit(origin.strip().lower())
    default = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == default:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _hubFailed(failure):
    failure.trap(HubUnavailable)
    # Redis is away: the connection is held here, and put back when it returns.


def _peerText(address):
    host = getattr(address, "host", None)
    return f"{host}:{address.port}" if host else str(address)


class ServiceProtocol:
    """
    Mixed in front of the app's class by L{serviceProtocol}, so that the
    checks run whatever the app overrides.

    @ivar clientAddress: the real client's IP address (text), from the
        forwarding headers of a trusted proxy, the PROXY protocol, or the
        TCP peer; L{None} until C{onConnect}.
    """

    clientAddress = None
    clientId = None
    # More output waits for the client than the transport buffers (see SendGuard).
    backedUp = False
    # The wss-hub.v1 framing, for a client that asked for that subprotocol.
    hubFraming = None
    admitted = False
    refused = False
    _openedAt = None
    _identity = None

    @property
    def hub(self):
        """The L{wss_service.hub.hub.Hub}: reach other connections, uids, groups."""
        return self.factory.hub

    def _connectionMade(self):
        if self.factory.fast.writeThrough:
            writethrough.install(self.transport)
        super()._connectionMade()
        self.factory.connections.add(self)

    def _connectionLost(self, reason):
        if self._openedAt is None and not self.refused:
            self.factory.metrics.handshakeFailures[self._failure(reason)] += 1
        if self.clientId is not None:
            self.factory.hub.detach(self.clientId)
        self.factory.forget(self)
        super()._connectionLost(reason)

    def _failure(self, reason):
        if reason is not None and reason.check(SSL.Error):
            return "tls"
        if self.wasOpenHandshakeTimeout:
            return "timeout"
        return "disconnect"

    def processHandshake(self):
        # Autobahn's reader is lenient: a head it would misread is refused
        # before Autobahn, the service or the app believes any header in it.
        end = self.data.find(b"\r\n\r\n")
        if end >= 0:
            problem = headProblem(self.data[:end + 4])
            if problem:
                return self.failHandshake(problem, 400)
        return super().processHandshake()

    def onConnect(self, request):
        factory = self.factory
        if factory.paths and request.path not in factory.paths:
            raise ConnectionDeny(404, f"no WebSocket at {request.path}")
        if (factory.origins and request.origin
                and normalizeOrigin(request.origin) not in factory.origins):
            raise ConnectionDeny(403, f"origin {request.origin} is not allowed")
        peer = getattr(self.transport.getPeer(), "host", None)
        self.clientAddress = clientAddress(
            peer, request.headers, factory.trustedProxies
        )
        if factory.tokens is not None:
            try:
                self._identity = factory.tokens.verify(request.params.get("token", [None])[0])
            except TokenRefused as e:
                raise ConnectionDeny(401, str(e)) from None
        resume = None
        if SUBPROTOCOL in request.protocols:
            try:
                resume = parseResume(request.params.get("resume", [""])[0] or "e30")
            except BadResume as e:
                raise ConnectionDeny(400, str(e)) from None
        factory.admit(self)
        chosen = super().onConnect(request)
        if chosen is None and resume is not None:
            self.hubFraming = Framing(self, resume)
            self.hubFraming.install()
            return SUBPROTOCOL
        return chosen

    def _onOpen(self):
        factory = self.factory
        self._openedAt = factory.reactor.seconds()
        if factory.fast.buffers and ISSLTransport.providedBy(self.transport):
            # Once the 101 response has left the TLS buffers.
            factory.reactor.callLater(0, releaseBuffers, self.transport.getHandle())
        factory.metrics.opened()
        if factory.sendTimeout:
            guard = SendGuard(self, factory.sendTimeout, factory.reactor)
            self.transport.registerProducer(guard, True)
        self.clientId = factory.hub.attach(self)
        if self._identity is not None:
            uid, groups = self._identity
            factory.hub.bindUid(self.clientId, uid).addErrback(_hubFailed)
            for group in groups:
                factory.hub.joinGroup(self.clientId, group).addErrback(_hubFailed)
        log.info(
            "open {client} peer={peer} path={path}",
            client=self.clientAddress,
            peer=_peerText(self.transport.getPeer()),
            path=self.http_request_path,
        )
        super()._onOpen()
        if self.hubFraming is not None:
            # After the app's onOpen and the token's bindings: every stream it is in now.
            self.hubFraming.opened = True
            factory.hub.enter(self.clientId)

    def _onClose(self, wasClean, code, reason):
        if self._openedAt is not None:
            self.factory.metrics.closed(code or 1006, self.trafficStats)
            log.info(
                "close {client} code={code} reason={reason!r} after {duration:.1f}s",
                client=self.clientAddress,
                code=code or 1006,
                reason=reason or "",
                duration=self.factory.reactor.seconds() - self._openedAt,
            )
        super()._onClose(wasClean, code, reason)

    def sendCloseFrame(self, code=None, reasonUtf8=None, isReply=False):
        # The one place a connection stops being open (our close, or the
        # answer to the client's): from now on the hub passes it over.
        super().sendCloseFrame(code, reasonUtf8, isReply)
        if self.clientId is not None and self.state != WebSocketProtocol.STATE_OPEN:
            self.factory.hub.detach(self.clientId)

    def sendHttpErrorResponse(self, code, reason, responseHeaders=None):
        self.refused = True
        self.factory.metrics.refused[code] += 1
        body = f"{reason}\n".encode()
        headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", len(body)),
            ("Connection", "close"),
        ]
        if code == 426:
            headers += [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")]
        head = f"HTTP/1.1 {code} {HTTPStatus(code).phrase}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers + list(responseHeaders or [])
        )
        self.sendData(head.encode() + b"\r\n" + body)

    def goAway(self, timeout):
        """
        Close with 1001 if open, giving the client C{timeout} seconds to
        answer (the 1 s default resets slow clients before they read it);
        otherwise drop the connection.
        """
        if self.state == WebSocketProtocol.STATE_OPEN:
            self.closeHandshakeTimeout = timeout
            self.sendCloseFrame(GOING_AWAY, b"server going away", isReply=False)
        elif self.state != WebSocketProtocol.STATE_CLOSING:
            self.dropConnection(abort=True)


def serviceProtocol(app, options, fast):
    """
    The class the factory builds: L{ServiceProtocol} in front of C{app},
    with the fast paths C{fast} (a L{wss_service.fastpaths.FastPaths})
    allows: the short road for frames if C{app} leaves Autobahn's frame and
    message steps alone, and no settings pretty-printed per connection.

    C{options}, Autobahn's per-connection settings, go on the class: Autobahn
    copies onto each connection only those it does not find there, so one
    copy serves every connection (about 1.7 KiB less each). Those that
    C{app} sets itself win, as they do with Autobahn.
    """
    bases = [ServiceProtocol]
    if fast.quietSettings:
        bases.append(QuietSettings)
    if fast.frames and takesShortRoad(app):
        bases.append(ShortRoad)
    shared = {name: staticmethod(value) if callable(value) else value
              for name, value in options.items() if not hasattr(app, name)}
    return type(app.__name__, (*bases, app), shared)
