"""
The link to Redis (txredisapi, parsing with hiredis): one connection for
commands and one subscribed to this node's channel and to C{wss:all}, each
kept up by Twisted's C{ClientService} with backoff. Losing either says so
once in the log; when both are up again the hub is told, to put its
connections back.
"""

from urllib.parse import unquote, urlsplit

import txredisapi
from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import MultiService
from twisted.internet.endpoints import HostnameEndpoint
from twisted.logger import Logger

from wss_service.errors import ConfigurationError
from wss_service.hub.errors import HubUnavailable

log = Logger(namespace="wss")
RETRY = backoffPolicy(initialDelay=0.2, maxDelay=5.0)


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


class _Subscriber(txredisapi.SubscriberProtocol):
    def messageReceived(self, pattern, channel, message):
        self.factory.link.received(channel, message)


class RedisLink(MultiService):
    """
    @param received: called with C{(channel, message)} for each message.
    @param connected: called each time both connections are ready.
    """

    def __init__(self, url, channels, received, connected, reactor):
        super().__init__()
        host, port, db, user, password = parseURL(url)
        self.where = f"{host}:{port}/{db}"
        self.channels = channels
        self.received = received
        self.connected = connected
        self.commands = None
        self.subscriber = None
        self._everUp = False
        self._saidDown = False
        for role, protocol in (("commands", txredisapi.RedisProtocol), ("subscriber", _Subscriber)):
            factory = txredisapi.RedisFactory(self.where, db if role == "commands" else None, 1,
                                              password=password, username=user,
                                              convertNumbers=False)
            factory.protocol = protocol
            factory.link = self
            endpoint = HostnameEndpoint(reactor, host, port, timeout=5)
            ClientService(endpoint, factory, retryPolicy=RETRY, clock=reactor,
                          prepareConnection=lambda p, role=role: self._prepare(role, p)
                          ).setServiceParent(self)

    @property
    def up(self):
        return self.commands is not None and self.subscriber is not None

    def _prepare(self, role, protocol):
        d = protocol.whenConnected()
        if role == "subscriber":
            d.addCallback(lambda p: p.subscribe(self.channels).addCallback(lambda _: p))
        d.addCallback(self._ready, role)
        return d

    def _ready(self, protocol, role):
        setattr(self, role, protocol)
        protocol.whenDisconnected().addCallback(lambda _: self._lost(role, protocol))
        if self.up:
            if self._saidDown:
                log.info("Redis at {where} is back; putting this process's connections back",
                         where=self.where)
            elif not self._everUp:
                log.info("hub on Redis at {where}", where=self.where)
            self._everUp, self._saidDown = True, False
            self.connected()
        return protocol

    def _lost(self, role, protocol):
        if getattr(self, role) is protocol:
            setattr(self, role, None)
        if self.running and not self._saidDown:
            self._saidDown = True
            log.warn("Redis at {where} unreachable: connections and local sends go on, hub "
                     "calls that need Redis fail until it is back; reconnecting",
                     where=self.where)

    def run(self, script, *args):
        """Run a presence script; its answer, or L{HubUnavailable}."""
        if self.commands is None:
            raise HubUnavailable(f"Redis at {self.where} is unreachable")
        d = self.commands.eval(script, [], [str(a) for a in args])
        d.addErrback(self._unavailable)
        return d

    def _unavailable(self, failure):
        failure.trap(txredisapi.ConnectionError)
        raise HubUnavailable(f"Redis at {self.where} is unreachable: {failure.value}")
