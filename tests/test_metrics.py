from prometheus_client import CollectorRegistry, generate_latest
from twisted.trial.unittest import TestCase

from tests.support.handshake import InMemory, clientFrame
from tests.support.pki import PKI
from tests.test_protocol import factory
from wss_service.metrics import Collector
from wss_service.service import WssService
from wss_service.tls import KeyPair, ServerTLS


def scrape(service):
    registry = CollectorRegistry()
    registry.register(Collector(service))
    samples = {}
    for family in registry.collect():
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


class CollectorTests(InMemory, TestCase):
    def test_countsAtConnectAndClose(self):
        f = factory(clock=self.clock, paths=("/wss",), maxConnectionsPerIP=1)
        service = WssService(f, 1, reactor=self.clock)
        pki = PKI(self.mktemp())
        service.tls = [ServerTLS(KeyPair(pki.path("server.key"), pki.path("fullchain.pem")))]
        closed, _ = self.handshake(f)
        closed.dataReceived(clientFrame(b"tom"))
        closed.dataReceived(clientFrame(b"\x03\xe8", opcode=0x8))
        self.lose(closed)
        live, _ = self.handshake(f)
        live.dataReceived(clientFrame(b"tom"))
        live.dataReceived(clientFrame(b"tom"))
        refused = [self.handshake(f, path="/nope")[0], self.handshake(f)[0]]
        timeout, _ = self.connect(f)
        self.clock.advance(10)
        # A real transport reports the loss of what the server dropped.
        for protocol in refused + [timeout]:
            self.lose(protocol)
        samples = scrape(service)
        self.assertEqual(samples["wss_connections"], 1)
        self.assertEqual(samples["wss_connections_accepted_total"], 2)
        self.assertEqual(samples["wss_handshakes_refused_total{status=404}"], 1)
        self.assertEqual(samples["wss_handshakes_refused_total{status=429}"], 1)
        self.assertEqual(samples["wss_handshake_failures_total{reason=timeout}"], 1)
        self.assertEqual(samples["wss_closes_total{code=1000}"], 1)
        self.assertEqual(samples["wss_messages_received_total"], 3)
        self.assertEqual(samples["wss_messages_sent_total"], 3)
        self.assertGreater(samples["wss_bytes_received_total"], 0)
        self.assertEqual(
            samples[f"wss_certificate_expiry_timestamp_seconds{{certificate={pki.path('fullchain.pem')}}}"],
            pki.leaf.not_valid_after_utc.timestamp())
        self.assertIn(b"wss_connections ", generate_latest(self._registry(service)))

    def _registry(self, service):
        registry = CollectorRegistry()
        registry.register(Collector(service))
        return registry
