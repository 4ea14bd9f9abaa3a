"""
Counters kept at connect and close time (never per message), exposed in
the Prometheus text format with a health check.

Message and byte totals come from Autobahn's own per-connection traffic
statistics: those of closed connections are added up when they close, those
of open ones at scrape time.

Under C{--workers}, each worker also copies its figures into
prometheus_client's multiprocess files (L{SharedFigures}) every
L{SHARE_SECONDS} and before it answers a scrape, so a scrape of whichever
worker sees the whole service: totals over every worker, those that ended or
were restarted included, each counted once (a worker writes files of its own
pid), with C{wss_worker_connections{pid}} per live worker.
"""

import os
import shutil
import tempfile
from collections import Counter

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as SharedCounter, Gauge as SharedGauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.twisted import MetricsResource
from twisted.application.service import Service
from twisted.internet.task import LoopingCall
from twisted.web.resource import Resource

from wss_service.web import QuietSite

# Read by prometheus_client when it is imported: set by the master for workers.
DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
SHARE_SECONDS = 2.0
# How a gauge adds up over workers: (prometheus_client's mode, per-worker twin or None).
GAUGES = {
    "wss_connections": ("livesum", "wss_worker_connections"),
    "wss_certificate_expiry_timestamp_seconds": ("livemin", None),
    # 0 while any worker's link to Redis is down.
    "wss_hub_redis_up": ("livemin", None),
}

TRAFFIC = (
    ("messages_received", "incomingWebSocketMessages", "Data messages received."),
    ("messages_sent", "outgoingWebSocketMessages", "Data messages sent."),
    ("bytes_received", "incomingOctetsWireLevel", "Bytes received on open connections."),
    ("bytes_sent", "outgoingOctetsWireLevel", "Bytes sent on open connections."),
)

LABELLED = (
    ("wss_handshakes_refused", "Opening handshakes refused, by HTTP status.", "status", "refused"),
    ("wss_handshake_failures", "Connections lost before the WebSocket opened, by reason.",
     "reason", "handshakeFailures"),
    ("wss_limit_closes", "Connections closed by a limit, by limit.", "limit", "limitCloses"),
    ("wss_closes", "WebSocket connections closed, by close code.", "code", "closes"),
)


class Metrics:
    """What happened to connections, counted as it happens."""

    def __init__(self):
        self.accepted = 0
        self.refused = Counter()
        self.closes = Counter()
        self.handshakeFailures = Counter()
        self.limitCloses = Counter()
        self.closedTraffic = Counter()

    def opened(self):
        self.accepted += 1

    def closed(self, code, trafficStats):
        self.closes[code] += 1
        for name, attribute, _ in TRAFFIC:
            self.closedTraffic[name] += getattr(trafficStats, attribute)


class Collector:
    """Reads a service's L{Metrics}, connections and certificates at scrape time."""

    def __init__(self, service):
        self.service = service

    def collect(self):
        m = self.service.factory.metrics
        connections = list(self.service.factory.connections)
        yield GaugeMetricFamily("wss_connections", "Open connections, handshaking ones included.",
                                value=len(connections))
        yield CounterMetricFamily("wss_connections_accepted", "WebSocket connections opened.",
                                  value=m.accepted)
        for name, help, label, attribute in LABELLED:
            family = CounterMetricFamily(name, help, labels=[label])
            for value, count in sorted(getattr(m, attribute).items()):
                family.add_metric([str(value)], count)
            yield family
        for name, attribute, help in TRAFFIC:
            live = sum(getattr(p.trafficStats, attribute) for p in connections
                       if p.trafficStats is not None)
            yield CounterMetricFamily(f"wss_{name}", help, value=m.closedTraffic[name] + live)
        expiry = GaugeMetricFamily("wss_certificate_expiry_timestamp_seconds",
                                   "When each TLS certificate in service expires.",
                                   labels=["certificate"])
        for tls in self.service.tls:
            expiry.add_metric([tls.keyPair.certKey], tls.notAfter.timestamp())
        yield expiry
        yield from _hubFigures(self.service.factory.hub)


def _hubFigures(hub):
    local = hub.local
    yield CounterMetricFamily("wss_hub_deliveries", "Hub messages handed to connections.",
                              value=local.delivered)
    skipped = CounterMetricFamily(
        "wss_hub_deliveries_skipped",
        "Hub sends that passed a connection over, by why (closing, backed_up, error).",
        labels=["reason"])
    for reason, count in sorted(local.skipped.items()):
        skipped.add_metric([reason], count)
    yield skipped
    if hub.redis is None:
        return
    yield GaugeMetricFamily("wss_hub_redis_up",
                            "1 while both connections to Redis work (commands, subscriber).",
                            value=int(hub.redis.up))
    yield CounterMetricFamily("wss_hub_redis_errors", "Redis calls that failed or timed out.",
                              value=hub.redis.errors)
    yield CounterMetricFamily(
        "wss_hub_subscriber_resyncs",
        "Times this process put its connections back in Redis after losing the link.",
        value=hub.resyncs)


class Health(Resource):
    """
    Liveness: 200 while serving, 503 once the service is stopping. With
    C{ready}, readiness: 503 also while the hub's link to Redis is down, so
    that a balancer sends new clients elsewhere without anything restarting
    the process. The body says how Redis and the subscriber are.
    """

    isLeaf = True

    def __init__(self, service, ready=False):
        super().__init__()
        self.service = service
        self.ready = ready

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        redis = self.service.factory.hub.redis
        lines = []
        if redis is not None:
            lines = [f"redis: {'up' if redis.commands is not None else 'down'}",
                     f"subscriber: {'up' if redis.subscriber is not None else 'down'}"]
        if not self.service.running:
            status = "stopping"
        elif self.ready and redis is not None and not redis.up:
            status = "not ready"
        else:
            status = "ok"
        if status != "ok":
            request.setResponseCode(503)
        return "\n".join([status, *lines, ""]).encode()


class SharedFigures:
    """
    This worker's figures, copied into prometheus_client's multiprocess
    files: counters as what they grew by since the last copy, gauges as they
    are.
    """

    def __init__(self, collector):
        self.collector = collector
        self._metrics = {}
        self._copied = Counter()

    def _metric(self, kind, name, documentation, labels, mode=None):
        if name not in self._metrics:
            options = {"multiprocess_mode": mode} if mode else {}
            self._metrics[name] = kind(name, documentation, labels, registry=None, **options)
        return self._metrics[name]

    def copy(self):
        for family in self.collector.collect():
            for sample in family.samples:
                names = sorted(sample.labels)
                values = [sample.labels[n] for n in names]
                if family.type == "counter":
                    if not sample.name.endswith("_total"):
                        continue
                    key = (sample.name, tuple(values))
                    grown = sample.value - self._copied[key]
                    metric = self._metric(SharedCounter, family.name, family.documentation, names)
                    if grown > 0:
                        (metric.labels(*values) if names else metric).inc(grown)
                        self._copied[key] = sample.value
                    continue
                mode, twin = GAUGES[family.name]
                for name, kind in [(family.name, mode), (twin, "liveall")]:
                    if name:
                        metric = self._metric(SharedGauge, name, family.documentation, names,
                                              kind)
                        (metric.labels(*values) if names else metric).set(sample.value)


class _CopiedFirst:
    """Every worker's figures, this one's copied first so that they are current."""

    def __init__(self, shared):
        self.shared = shared
        self.collector = MultiProcessCollector(None)

    def collect(self):
        self.shared.copy()
        return self.collector.collect()


class ShareFigures(Service):
    """In a worker: copies its figures every L{SHARE_SECONDS}."""

    def __init__(self, shared, clock):
        self._loop = LoopingCall(shared.copy)
        self._loop.clock = clock

    def startService(self):
        super().startService()
        self._loop.start(SHARE_SECONDS)

    def stopService(self):
        if self._loop.running:
            self._loop.stop()
        return super().stopService()


class SharedDirectory(Service):
    """
    In the master: the directory the workers share their figures in, made
    at start and removed at the end; a worker that ends leaves its counters
    there and takes its live gauges with it.
    """

    def __init__(self):
        self.path = None

    def privilegedStartService(self):
        super().privilegedStartService()
        self.path = tempfile.mkdtemp(prefix="wss-metrics-")

    def environment(self):
        return {DIRECTORY_VARIABLE: self.path}

    def workerEnded(self, pid):
        mark_process_dead(pid, self.path)

    def stopService(self):
        super().stopService()
        shutil.rmtree(self.path, ignore_errors=True)


def sharedDirectory():
    """The directory workers share their figures in, or L{None} outside C{--workers}."""
    return os.environ.get(DIRECTORY_VARIABLE) or None


def metricsSite(collector, service, shared=None):
    """
    A web site with C{/metrics}, C{/healthz} and C{/readyz}: this process's figures, or,
    with C{shared} (a L{SharedFigures}), every worker's.
    """
    registry = CollectorRegistry(auto_describe=not shared)
    if shared:
        registry.register(_CopiedFirst(shared))
    else:
        registry.register(collector)
    root = Resource()
    root.putChild(b"metrics", MetricsResource(registry))
    root.putChild(b"healthz", Health(service))
    root.putChild(b"readyz", Health(service, ready=True))
    return QuietSite(root)
