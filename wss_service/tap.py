"""
The C{twistd wss} command line: L{Options} and L{makeService}.
"""

from twisted.python import usage

from wss_service.apps import loadApp
from wss_service.endpoints import listeningEndpoint
from wss_service.errors import ConfigurationError
from wss_service.factory import MiB, ServiceFactory, Settings
from wss_service.limits import IdleSweeper
from wss_service.tlsbuffers import SWEEP_SECONDS, BufferReleaser
from wss_service.logs import jsonObserver
from wss_service.metrics import Collector, metricsSite
from wss_service.realip import LOOPBACK, parseNetworks
from wss_service.service import ListeningService, WssService, rememberSighup
from wss_service.systemd import SystemdService
from wss_service.tls import ServerTLS
from wss_service.workers import MasterService, SharedSockets, Supervisor

DEFAULT_ENDPOINT = "tcp:8282:interface=127.0.0.1"


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "Serve WebSocket (ws, and wss on ssl: endpoints) with an Autobahn "
        "protocol. Send SIGHUP to reload certificates, SIGTERM to drain and stop."
    )

    optFlags = [
        ["compression", None, "Accept permessage-deflate (bounded by --max-message-size)."],
    ]

    optParameters = [
        ["app", "a", "wss_service.apps:OkProtocol",
         "The app: module:Class, a subclass of Autobahn's WebSocketServerProtocol."],
        ["max-message-size", None, MiB,
         "Largest message in bytes (close 1009 above it); 0 for no limit.", int],
        ["max-frame-size", None, MiB,
         "Largest frame in bytes (close 1009 above it); 0 for no limit.", int],
        ["handshake-timeout", None, 5.0,
         "Seconds a client has to finish the opening handshake.", float],
        ["ping-interval", None, 20.0,
         "Seconds between keepalive pings; 0 for none.", float],
        ["ping-timeout", None, 20.0,
         "Seconds to wait for the pong before closing.", float],
        ["max-connections", None, 0,
         "Most open connections in all (503 beyond); 0 for no limit.", int],
        ["max-connections-per-ip", None, 1000,
         "Most open connections per client address (429 beyond); 0 for no limit.", int],
        ["idle-timeout", None, 0.0,
         "Close connections with no message either way for so many seconds; 0: never.", float],
        ["send-timeout", None, 30.0,
         "Cut a client that reads nothing for so many seconds while output waits; 0: never.",
         float],
        ["workers", None, 1,
         "Processes that share every listening socket; the master restarts any that dies.",
         int],
        ["shutdown-timeout", None, 10.0,
         "Seconds to wait for clients to close on SIGTERM.", float],
        ["metrics-endpoint", None, None,
         "Serve /metrics (Prometheus) and /healthz here, e.g. tcp:9282:interface=127.0.0.1."],
        ["log-format", None, "text", "Log lines as text or json (one object per line)."],
        ["watch-certificates", None, 0.0,
         "Check TLS files for changes every so many seconds and reload them; 0: only on SIGHUP.",
         float],
    ]

    def __init__(self):
        super().__init__()
        self["endpoints"] = []
        self["paths"] = []
        self["origins"] = []
        self["trustedProxies"] = []

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

    def postOptions(self):
        self["endpoints"] = self["endpoints"] or [DEFAULT_ENDPOINT]
        self["trustedProxies"] = self["trustedProxies"] or list(LOOPBACK)
        if self["log-format"] not in ("text", "json"):
            raise usage.UsageError("--log-format is text or json")
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
    factory = ServiceFactory(loadApp(options["app"]), _settings(options), reactor)
    service = WssService(factory, options["shutdown-timeout"], options["watch-certificates"],
                         reactor)
    tlsByFiles = {}

    def tlsFor(keyPair):
        if keyPair not in tlsByFiles:
            tlsByFiles[keyPair] = ServerTLS(keyPair)
        return tlsByFiles[keyPair]

    def listener(description, factory):
        endpoint, _ = listeningEndpoint(reactor, description, tlsFor)
        return ListeningService(description, endpoint, factory)

    listeners = [listener(description, factory) for description in options["endpoints"]]
    if options["metrics-endpoint"]:
        site = metricsSite(Collector(service), service)
        listeners.append(listener(options["metrics-endpoint"], site))
        service.stopLast = listeners[-1:]
    service.tls = list(tlsByFiles.values())
    for child in listeners:
        child.setServiceParent(service)
    if options["idle-timeout"]:
        IdleSweeper(factory, options["idle-timeout"], reactor).setServiceParent(service)
    if service.tls:
        BufferReleaser(factory, SWEEP_SECONDS, reactor).setServiceParent(service)
    SystemdService(listeners, reactor).setServiceParent(service)
    return service


def workerArguments(options):
    """The twistd command line of a worker: these options, less the endpoints."""
    arguments = ["-n", "--pidfile="]
    if options["log-format"] == "json":
        arguments.append(f"--logger={jsonObserver.__module__}.{jsonObserver.__name__}")
    arguments.append("wss")
    for name, _, default, _, *_ in options.optParameters:
        if name not in ("workers", "metrics-endpoint") and options[name] != default:
            arguments.append(f"--{name}={options[name]}")
    for name, *_ in options.optFlags:
        if options[name]:
            arguments.append(f"--{name}")
    for name, key in [("path", "paths"), ("allowed-origin", "origins"),
                      ("trusted-proxy", "trustedProxies")]:
        arguments += [f"--{name}={value}" for value in options[key]]
    return arguments


def _buildMaster(options, reactor):
    loadApp(options["app"])
    _settings(options)
    descriptions = [("--endpoint", d) for d in options["endpoints"]]
    if options["metrics-endpoint"]:
        descriptions.append(("--metrics-endpoint", options["metrics-endpoint"]))
    endpoints = []
    for option, description in descriptions:
        endpoint, tls = listeningEndpoint(reactor, description, ServerTLS)
        endpoints.append((option, description, endpoint.wrapped if tls else endpoint))
    sockets = SharedSockets(endpoints)
    supervisor = Supervisor(sockets, workerArguments(options), options["workers"], reactor)
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
