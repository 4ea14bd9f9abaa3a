"""
The C{twistd wss} command line: L{Options} and L{makeService}.
"""

import math

from twisted.application.internet import TimerService
from twisted.python import usage

from wss_service import __version__, fastpaths
from wss_service.apps import loadApp
from wss_service.endpoints import listeningEndpoint
from wss_service.errors import ConfigurationError
from wss_service.factory import MiB, ServiceFactory, Settings
from wss_service.limits import IdleSweeper
from wss_service.fastpaths.accepts import takeTurns
from wss_service.fastpaths.dispatch import LeanDispatch
from wss_service.fastpaths.tlsbuffers import SWEEP_SECONDS, BufferReleaser
from wss_service.hub import history
from wss_service.hub.api import apiSite, readKey
from wss_service.hub.hub import Hub
from wss_service.hub.presence import checkPrefix, defaultPrefix
from wss_service.hub.redis import RedisLink, parseURL
from wss_service.hub.subprotocol import pingAll
from wss_service.hub.tokens import LEEWAY, Tokens
from wss_service.logs import jsonObserver, workerNumber, workerTextObserver
from wss_service.metrics import (Collector, ShareFigures, SharedDirectory, SharedFigures,
                                 metricsSite, sharedDirectory)
from wss_service.realip import LOOPBACK, parseNetworks
from wss_service.service import ListeningService, WssService, rememberSighup
from wss_service.systemd import SystemdService
from wss_service.tls import ServerTLS
from wss_service.workers import MasterService, SharedSockets, Supervisor

DEFAULT_ENDPOINT = "tcp:8282:interface=127.0.0.1"


def number(name, kind, low, example, above=False, zero=None):
    """
    A coerce function for C{--name}: a finite C{kind} (int or float) of at
    least C{low} (above it, if C{above}), else one line naming the option,
    the range and an example.

    @param zero: what 0 means, where it is allowed.
    """
    what = "a whole number" if kind is int else "a number of seconds"
    if above:
        bound = f"above {low}"
    elif low == 0 and zero:
        bound = f"0 ({zero}) or more"
    else:
        bound = f"{low} or more"

    def coerce(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value < low or (above and value == low):
            raise usage.UsageError(
                f"--{name} takes {what}, {bound}, not {text!r}; e.g. --{name} {example}")
        return value

    coerce.coerceDoc = f"{what[2:].capitalize()}, {bound}."
    return coerce


_SETTINGS = Settings()


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "Serve WebSocket (ws, and wss on ssl: endpoints) with an Autobahn "
        "protocol. Send SIGHUP to reload certificates, SIGTERM to drain and stop."
    )

    optFlags = [
        ["compression", None, "Accept permessage-deflate (bounded by --max-message-size)."],
        ["no-fast-paths", None,
         "Serve with Twisted's own TLS layer, writes and event dispatch and Autobahn's frame "
         "road only (slower; to compare)."],
    ]

    optParameters = [
        ["app", "a", "wss_service.apps:OkProtocol",
         "The app: module:Class, a subclass of Autobahn's WebSocketServerProtocol."],
        ["max-message-size", None, _SETTINGS.maxMessageSize,
         "Largest message in bytes (close 1009 above it); 0 for no limit.",
         number("max-message-size", int, 0, MiB, zero="no limit")],
        ["max-frame-size", None, _SETTINGS.maxFrameSize,
         "Largest frame in bytes (close 1009 above it); 0 for no limit.",
         number("max-frame-size", int, 0, MiB, zero="no limit")],
        ["handshake-timeout", None, _SETTINGS.handshakeTimeout,
         "Seconds a client has to finish the opening handshake.",
         number("handshake-timeout", float, 0, 5, above=True)],
        ["ping-interval", None, _SETTINGS.pingInterval,
         "Seconds between keepalive pings; 0 for none.",
         number("ping-interval", float, 0, 20, zero="no pings")],
        ["ping-timeout", None, _SETTINGS.pingTimeout,
         "Seconds to wait for the pong before closing.",
         number("ping-timeout", float, 0, 20, above=True)],
        ["max-connections", None, _SETTINGS.maxConnections,
         "Most open connections in all (503 beyond); 0 for no limit.",
         number("max-connections", int, 0, 10000, zero="no limit")],
        ["max-connections-per-ip", None, _SETTINGS.maxConnectionsPerIP,
         "Most open connections per client address (429 beyond); 0 for no limit.",
         number("max-connections-per-ip", int, 0, 1000, zero="no limit")],
        ["idle-timeout", None, 0.0,
         "Close connections with no message either way for so many seconds; 0: never.",
         number("idle-timeout", float, 0, 300, zero="never")],
        ["send-timeout", None, _SETTINGS.sendTimeout,
         "Cut a client that reads nothing for so many seconds while output waits; 0: never.",
         number("send-timeout", float, 0, 30, zero="never")],
        ["workers", None, 1,
         "Processes that share every listening socket; the master restarts any that dies.",
         number("workers", int, 1, 4)],
        ["shutdown-timeout", None, 10.0,
         "Seconds to wait for clients to close on SIGTERM.",
         number("shutdown-timeout", float, 0, 10, zero="drop them at once")],
        ["metrics-endpoint", None, None,
         "Serve /metrics (Prometheus) and /healthz here, e.g. tcp:9282:interface=127.0.0.1."],
        ["log-format", None, "text", "Log lines as text or json (one object per line)."],
        ["redis", None, None,
         "Share the hub (and presence) with every process on this Redis, "
         "e.g. redis://127.0.0.1:6379/0."],
        ["redis-prefix", None, None,
         "Start every Redis key and channel with this, to share one Redis between "
         "deployments. [default: wss:DB: for --redis .../DB]"],
        ["history-size", None, history.SIZE,
         "Messages kept per stream with history (see --history).",
         number("history-size", int, 1, 100)],
        ["history-ttl", None, history.TTL,
         "Seconds a stream's messages are kept after its last one.",
         number("history-ttl", float, 0, 300, above=True)],
        ["api-endpoint", None, None,
         "Serve the hub's HTTP API here, e.g. tcp:8283:interface=127.0.0.1."],
        ["api-key-file", None, None, "The file holding the key API calls must send."],
        ["jwt-key-file", None, None,
         "Verify ?token=<JWT> on connect with this HMAC secret or RSA/EC public key (PEM)."],
        ["jwt-audience", None, None, "Accept only tokens whose aud claim names this."],
        ["jwt-issuer", None, None, "Accept only tokens whose iss claim is this."],
        ["jwt-leeway", None, LEEWAY,
         "Seconds of clock skew allowed on a token's exp, nbf and iat.",
         number("jwt-leeway", float, 0, 30)],
        ["watch-certificates", None, 0.0,
         "Check TLS files for changes every so many seconds and reload them; 0: only on SIGHUP.",
         number("watch-certificates", float, 0, 60, zero="only on SIGHUP")],
    ]

    def parseOptions(self, options=None):
        """
        Parse; a usage error ends the process with its one line, not under
        the whole help text.
        """
        try:
            super().parseOptions(options)
        except usage.UsageError as e:
            raise SystemExit(f"wss: {e} (twistd wss --help lists the options)") from None

    def opt_version(self):
        """Print this service's version and exit."""
        print(f"wss-service {__version__}")
        raise SystemExit(0)

    def __init__(self):
        super().__init__()
        self["endpoints"] = []
        self["paths"] = []
        self["origins"] = []
        self["trustedProxies"] = []
        self["history"] = []

    def opt_endpoint(self, description):
        """
        Where to listen, as a Twisted endpoint string; repeatable. TLS: use
        ssl:PORT:privateKey=KEY:certKey=CERT[:extraCertChain=CHAIN], or
        tls:ENDPOINT:privateKey=...:certKey=... [default: tcp:8282:interface=127.0.0.1]
        """
        self["endpoints"].append(description)

    opt_e = opt_endpoint

    def opt_path(self, path):
        """Accept WebSocket upgrades only on this path (404 elsewhere); repeatable."""
        self["paths"].append(path)

    def opt_allowed_origin(self, origin):
        """Accept browsers only from this origin, e.g. https://example.com (403 otherwise); repeatable."""
        self["origins"].append(origin)

    def opt_trusted_proxy(self, network):
        """A proxy (CIDR) whose X-Real-IP, X-Forwarded-For and Forwarded headers are believed; repeatable. [default: 127.0.0.0/8 and ::1]"""
        self["trustedProxies"].append(network)

    def opt_history(self, pattern):
        """Keep the last --history-size messages of these streams, for clients to recover what they missed: a glob over group:NAME, uid:NAME and all, e.g. 'group:*'; repeatable."""
        self["history"].append(pattern)

    def postOptions(self):
        self["endpoints"] = self["endpoints"] or [DEFAULT_ENDPOINT]
        self["trustedProxies"] = self["trustedProxies"] or list(LOOPBACK)
        if self["log-format"] not in ("text", "json"):
            raise usage.UsageError(
                f"--log-format takes text or json, not {self['log-format']!r}; "
                f"e.g. --log-format json")
        if self["log-format"] == "json" and self.parent is not None:
            # Read by twistd's logger, which starts after the options are parsed.
            self.parent["logger"] = f"{jsonObserver.__module__}.{jsonObserver.__name__}"


def _settings(options):
    try:
        trusted = parseNetworks(options["trustedProxies"])
    except ValueError as e:
        raise ConfigurationError(
            f"--trusted-proxy: {e}; give a network such as 10.0.0.0/8 or an address"
        ) from None
    return Settings(
        paths=tuple(options["paths"]),
        origins=tuple(options["origins"]),
        trustedProxies=trusted,
        maxMessageSize=options["max-message-size"],
        maxFrameSize=options["max-frame-size"],
        handshakeTimeout=options["handshake-timeout"],
        pingInterval=options["ping-interval"],
        pingTimeout=options["ping-timeout"],
        maxConnections=options["max-connections"],
        maxConnectionsPerIP=options["max-connections-per-ip"],
        sendTimeout=options["send-timeout"],
        compression=bool(options["compression"]),
    )


def _buildService(options, reactor):
    fast = fastpaths.select(not options["no-fast-paths"])
    hub = _hub(options, reactor)
    tokens = _tokens(options)
    key = readKey(options["api-key-file"]) if options["api-endpoint"] else None
    factory = ServiceFactory(loadApp(options["app"]), _settings(options), reactor, fast, hub,
                             tokens)
    service = WssService(factory, options["shutdown-timeout"], options["watch-certificates"],
                         reactor)
    tlsByFiles = {}

    def tlsFor(keyPair):
        if keyPair not in tlsByFiles:
            tlsByFiles[keyPair] = ServerTLS(keyPair)
        return tlsByFiles[keyPair]

    def listener(description, factory, scheme):
        endpoint, tls = listeningEndpoint(reactor, description, tlsFor, fast.tlsFactory())
        # A worker shares every socket with the others.
        shared = fast.accepts and workerNumber() is not None
        return ListeningService(description, endpoint, factory, scheme + "s" * bool(tls),
                                takeTurns if shared else None)

    listeners = [listener(description, factory, "ws") for description in options["endpoints"]]
    if options["api-endpoint"]:
        listeners.append(listener(options["api-endpoint"], apiSite(hub, key), "http"))
    if options["metrics-endpoint"]:
        collector = Collector(service)
        shared = SharedFigures(collector) if sharedDirectory() else None
        site = metricsSite(collector, service, shared)
        listeners.append(listener(options["metrics-endpoint"], site, "http"))
        if shared:
            ShareFigures(shared, reactor).setServiceParent(service)
        service.stopLast = listeners[-1:]
    # Last out: presence stays right while the connections drain.
    hub.setServiceParent(service)
    service.stopLast = [*service.stopLast, hub]
    service.tls = list(tlsByFiles.values())
    for child in listeners:
        child.setServiceParent(service)
    if options["idle-timeout"]:
        IdleSweeper(factory, options["idle-timeout"], reactor).setServiceParent(service)
    if options["ping-interval"]:
        pinger = TimerService(options["ping-interval"], pingAll, factory)
        pinger.clock = reactor
        pinger.setServiceParent(service)
    if service.tls and fast.buffers:
        BufferReleaser(factory, SWEEP_SECONDS, reactor).setServiceParent(service)
    if fast.dispatch:
        LeanDispatch(reactor).setServiceParent(service)
    SystemdService(listeners, reactor).setServiceParent(service)
    return service


def _tokens(options):
    """What verifies ?token= on connect, if anything does."""
    if not options["jwt-key-file"]:
        for name in ("jwt-audience", "jwt-issuer"):
            if options[name]:
                raise ConfigurationError(f"--{name} needs --jwt-key-file FILE, the key that "
                                         f"verifies the tokens")
        return None
    return Tokens(options["jwt-key-file"], options["jwt-audience"], options["jwt-issuer"],
                  options["jwt-leeway"])


def _redisPrefix(options):
    """The deployment's prefix in Redis (checked), or L{None} without --redis."""
    if not options["redis"]:
        if options["redis-prefix"]:
            raise ConfigurationError("--redis-prefix needs --redis URL")
        return None
    _, _, db, _, _ = parseURL(options["redis"])
    return checkPrefix(options["redis-prefix"] or defaultPrefix(db))


def _history(options):
    return history.History(tuple(options["history"]), options["history-size"],
                           options["history-ttl"])


def _hub(options, reactor):
    """The hub: on Redis, in memory for one process, or refusing calls in a worker."""
    prefix = _redisPrefix(options)
    kept = _history(options)
    if prefix:
        url = options["redis"]
        return Hub(reactor, lambda channels, received, connected: RedisLink(
            url, channels, received, connected, reactor), prefix=prefix, history=kept)
    if workerNumber() is not None:
        return Hub(reactor, refusal="with --workers the hub needs --redis (e.g. --redis "
                   "redis://127.0.0.1:6379/0): without it a worker reaches only its own "
                   "connections")
    return Hub(reactor, history=kept)


def workerArguments(options):
    """The twistd command line of a worker: these options, less the endpoints."""
    observer = jsonObserver if options["log-format"] == "json" else workerTextObserver
    arguments = ["-n", "--pidfile=", f"--logger={observer.__module__}.{observer.__name__}"]
    arguments.append("wss")
    for name, _, default, _, *_ in options.optParameters:
        if name not in ("workers", "metrics-endpoint", "api-endpoint") and options[name] != default:
            arguments.append(f"--{name}={options[name]}")
    for name, *_ in options.optFlags:
        if options[name]:
            arguments.append(f"--{name}")
    for name, key in [("path", "paths"), ("allowed-origin", "origins"),
                      ("trusted-proxy", "trustedProxies"), ("history", "history")]:
        arguments += [f"--{name}={value}" for value in options[key]]
    return arguments


def _buildMaster(options, reactor):
    loadApp(options["app"])
    _settings(options)
    if options["api-endpoint"]:
        if not options["redis"]:
            raise ConfigurationError(
                "--api-endpoint with --workers needs --redis (e.g. --redis "
                "redis://127.0.0.1:6379/0): each worker holds only its own connections")
        readKey(options["api-key-file"])
    _redisPrefix(options)
    _history(options)
    _tokens(options)
    descriptions = [("--endpoint", d) for d in options["endpoints"]]
    if options["api-endpoint"]:
        descriptions.append(("--api-endpoint", options["api-endpoint"]))
    if options["metrics-endpoint"]:
        descriptions.append(("--metrics-endpoint", options["metrics-endpoint"]))
    endpoints = []
    for option, description in descriptions:
        endpoint, tls = listeningEndpoint(reactor, description, ServerTLS)
        endpoints.append((option, description, endpoint.wrapped if tls else endpoint))
    sockets = SharedSockets(endpoints)
    figures = SharedDirectory() if options["metrics-endpoint"] else None
    supervisor = Supervisor(sockets, workerArguments(options), options["workers"], reactor,
                            figures)
    service = MasterService(sockets, supervisor, reactor)
    SystemdService([], reactor).setServiceParent(service)
    return service


def makeService(options, reactor=None):
    """
    The service for these options.

    @raise SystemExit: with one readable line, for options that cannot work.
    """
    rememberSighup()
    if reactor is None:
        from twisted.internet import reactor
    build = _buildMaster if options["workers"] > 1 else _buildService
    try:
        return build(options, reactor)
    except ConfigurationError as e:
        raise SystemExit(f"wss: {e}") from None
