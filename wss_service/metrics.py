"""
Counters kept at connect and close time (never per message), exposed in
the Prometheus text format with a health check.

Message and byte totals come from Autobahn's own per-connection traffic
statistics: those of closed connections are added up when they close, those
of open ones at scrape time.
"""

from collections import Counter

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.twisted import MetricsResource
from twisted.web.resource import Resource
from twisted.web.server import Site

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


class Health(Resource):
    """200 while serving, 503 once the service is stopping."""

    isLeaf = True

    def __init__(self, service):
        super().__init__()
        self.service = service

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        if self.service.running:
            return b"ok\n"
        request.setResponseCode(503)
        return b"stopping\n"


def metricsSite(collector, service):
    """A web site with C{/metrics} and C{/healthz}."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    root = Resource()
    root.putChild(b"metrics", MetricsResource(registry))
    root.putChild(b"healthz", Health(service))
    return QuietSite(root)


class QuietSite(Site):
    """No access log: scrapes every few seconds would drown the service's own lines."""

    noisy = False

    def log(self, request):
        pass
