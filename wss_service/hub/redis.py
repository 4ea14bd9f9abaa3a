"""
The link to Redis (txredisapi, parsing with hiredis): one connection for
commands and one subscribed to this node's channel and to the deployment's
C{all}, each kept up by Twisted's C{ClientService} with backoff.

Nothing waits on Redis for long: connecting, logging in, subscribing and
every reply have a deadline (L{STEP_SECONDS}, L{REPLY_SECONDS}); past it
the connection is dropped and made again. Both connections use TCP
keepalive. The subscriber is known to work only while messages come
through it: the hub's heartbeat publishes a beat on this node's channel
every second (L{beatPublished}), and a subscriber that has not passed on a
published beat within L{SILENT_SECONDS} is dropped and made again, so a
cut that TCP does not report is noticed within seconds. (This process
being stopped for a while is not such a cut: no beat was published.)
Losing either connection says so once in the log; each time both are up
again the hub is told, to put its connections back.
"""

import socket
from urllib.parse import unquote, urlsplit

import txredisapi
from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import MultiService
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from wss_service.errors import ConfigurationError
from wss_service.hub.errors import HubUnavailable

log = Logger(namespace="wss")
RETRY = backoffPolicy(initialDelay=0.2, maxDelay=5.0)
CONNECT_SECONDS = 5
STEP_SECONDS = 5
REPLY_SECONDS = 3
SILENT_SECONDS = 3.5
# TCP keepalive: the first probe after 10 s of silence, then every 5 s; 3 lost, the link is dead.
KEEPALIVE = ((socket.TCP_KEEPIDLE, 10), (socket.TCP_KEEPINTVL, 5), (socket.TCP_KEEPCNT, 3))


def parseURL(url):
    """
    C{redis://[user:password@]host[:port][/db]} as C{(host, port, db, user, password)}.

    @raise ConfigurationError: for anything else.
    """
    parts = urlsplit(url)
    try:
        port = parts.port or 6379
        db = int(parts.path.strip("/") or 0)
    except ValueError:
        port = db = None
    if parts.scheme != "redis" or not parts.hostname or port is None or db is None:
        raise ConfigurationError(f"--redis {url!r} is not a redis:// URL; e.g. --redis "
                                 f"redis://127.0.0.1:6379/0 (redis://user:password@host:port/db)")
    return (parts.hostname, port, db, unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None)


class _Commands(txredisapi.RedisProtocol):
    def connectionMade(self):
        d = super().connectionMade()
        self.factory.link._made("commands", self)
        return d


class _Subscriber(txredisapi.SubscriberProtocol):
    def connectionMade(self):
        d = super().connectionMade()
        self.factory.link._made("subscriber", self)
        return d

    def messageReceived(self, pattern, channel, message):
        self.factory.link._heard(channel, message)


class RedisLink(MultiService):
    """
    @param received: called with C{(channel, message)} for each message.
    @param connected: called each time both connections are ready.
    @ivar errors: Redis calls that failed (unreachable, timed out, refused).
    """

    def __init__(self, url, channels, received, connected, reactor):
        super().__init__()
        host, port, db, user, password = parseURL(url)
        self.where = f"{host}:{port}/{db}"
        self.channels = channels
        self.received = received
        self.connected = connected
        self.reactor = reactor
        self.commands = None
        self.subscriber = None
        self.errors = 0
        self._unheardSince = None
        self._everUp = False
        self._saidDown = False
        self._watch = LoopingCall(self._checkSubscriber)
        self._watch.clock = reactor
        for role, protocol in (("commands", _Commands), ("subscriber", _Subscriber)):
            factory = txredisapi.RedisFactory(
                self.where, db if role == "commands" else None, 1, password=password,
                username=user, convertNumbers=False,
                replyTimeout=REPLY_SECONDS if role == "commands" else None)
            factory.protocol = protocol
            factory.link = self
            endpoint = HostnameEndpoint(reactor, host, port, timeout=CONNECT_SECONDS)
            ClientService(endpoint, factory, retryPolicy=RETRY, clock=reactor
                          ).setServiceParent(self)

    @property
    def up(self):
        """Both connections work: sends reach this process, and its calls run."""
        return self.commands is not None and self.subscriber is not None

    @property
    def reachable(self):
        """Calls can run (the commands connection works), whatever the subscriber does."""
        return self.commands is not None

    def startService(self):
        super().startService()
        self._watch.start(1.0, now=False)

    def stopService(self):
        if self._watch.running:
            self._watch.stop()
        # Nothing is left to say: never wait on a Redis that does not answer.
        for protocol in (self.commands, self.subscriber):
            if protocol is not None:
                protocol.transport.abortConnection()
        return super().stopService()

    def _made(self, role, protocol):
        """
        A new connection: ready once logged in (and, for the subscriber,
        subscribed) within L{STEP_SECONDS}; dropped otherwise.
        """
        transport = protocol.transport
        transport.setTcpKeepAlive(True)
        for option, value in KEEPALIVE:
            transport.getHandle().setsockopt(socket.IPPROTO_TCP, option, value)
        d = protocol.whenConnected()
        if role == "subscriber":
            d.addCallback(lambda p: p.subscribe(self.channels))
        d.addTimeout(STEP_SECONDS, self.reactor)
        d.addCallbacks(lambda _: self._ready(protocol, role),
                       lambda failure: self._notReady(protocol, role, failure))
        protocol.whenDisconnected().addCallback(lambda _: self._lost(role, protocol))

    def _notReady(self, protocol, role, failure):
        self._down(f"the {role} connection did not get ready: {failure.getErrorMessage()}")
        protocol.transport.abortConnection()

    def _ready(self, protocol, role):
        if not protocol.connected:
            return
        setattr(self, role, protocol)
        if role == "subscriber":
            self._unheardSince = None
        if self.up:
            if self._saidDown:
                log.info("Redis at {where} is back; putting this process's connections back",
                         where=self.where)
            elif not self._everUp:
                log.info("hub on Redis at {where}", where=self.where)
            self._everUp, self._saidDown = True, False
            self.connected()

    def _lost(self, role, protocol):
        if getattr(self, role) is protocol:
            setattr(self, role, None)
        self._down(f"the {role} connection was lost")

    def _down(self, why):
        if self.running and not self._saidDown:
            self._saidDown = True
            log.warn("Redis at {where} unreachable ({why}): connections and local sends go "
                     "on, hub calls that need Redis fail until it is back; reconnecting",
                     where=self.where, why=why)

    def beatPublished(self):
        """A beat went out on this node's channel: the subscriber should pass it on."""
        if self._unheardSince is None:
            self._unheardSince = self.reactor.seconds()

    def _heard(self, channel, message):
        self._unheardSince = None
        self.received(channel, message)

    def _checkSubscriber(self):
        subscriber = self.subscriber
        if (subscriber is not None and self._unheardSince is not None
                and self.reactor.seconds() - self._unheardSince > SILENT_SECONDS):
            self.subscriber = None
            self._down(f"the subscriber passed on no beat for {SILENT_SECONDS}s")
            subscriber.transport.abortConnection()

    def run(self, script, *args):
        """Run a presence script; its answer, or L{HubUnavailable}."""
        if self.commands is None:
            self.errors += 1
            raise HubUnavailable(f"Redis at {self.where} is unreachable")
        d = self.commands.eval(script, [], [str(a) for a in args])
        d.addErrback(self._unavailable)
        return d

    def _unavailable(self, failure):
        self.errors += 1
        failure.trap(txredisapi.ConnectionError)
        raise HubUnavailable(f"Redis at {self.where} is unreachable: {failure.value}")
