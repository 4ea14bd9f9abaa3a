from datetime import datetime, timedelta, timezone

from twisted.trial.unittest import TestCase

from tests.support.pki import PKI
from wss_service.doctor import certificates


class CertificatesTests(TestCase):
    def setUp(self):
        self.pki = PKI(self.mktemp(), hosts=("example.com", "*.example.net", "192.0.2.7"))

    def test_matches(self):
        leaf = self.pki.leaf
        for host in ["example.com", "EXAMPLE.com.", "a.example.net", "192.0.2.7"]:
            self.assertTrue(certificates.matches(host, leaf), host)
        for host in ["www.example.com", "example.net", "a.b.example.net", "192.0.2.8",
                     "evil-example.com"]:
            self.assertFalse(certificates.matches(host, leaf), host)

    def test_describeAndDates(self):
        self.assertEqual(certificates.describe(self.pki.leaf), "CN=example.com")
        self.assertTrue(certificates.isSelfSigned(self.pki.ca))
        self.assertFalse(certificates.isSelfSigned(self.pki.leaf))
        now = self.pki.leaf.not_valid_after_utc - timedelta(days=3)
        self.assertAlmostEqual(certificates.daysLeft(self.pki.leaf, now), 3)
        self.assertLess(certificates.daysLeft(self.pki.leaf, datetime.now(timezone.utc)), 31)

    def test_verify(self):
        store, where = certificates.trustStore(self.pki.path("ca.pem"))
        self.assertIn("ca.pem", where)
        self.assertIsNone(certificates.verify([self.pki.leaf, self.pki.intermediate], store))
        code, _, stoppedAt = certificates.verify([self.pki.leaf], store)
        self.assertIn(code, certificates.NO_ISSUER)
        self.assertEqual(stoppedAt, self.pki.leaf)
        systemOnly, _ = certificates.trustStore()
        code, _, stoppedAt = certificates.verify([self.pki.leaf, self.pki.intermediate],
                                                 systemOnly)
        self.assertIn(code, certificates.NO_ISSUER)
        self.assertEqual(stoppedAt, self.pki.intermediate)
