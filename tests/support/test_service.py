"""The test helpers' ports: the servers a test starts can always bind them."""

from twisted.trial.unittest import TestCase

from tests.support.service import _ephemeralPorts, freePort


class FreePortTests(TestCase):
    def test_neverTheSamePortTwiceAndBelowTheEphemeralRange(self):
        ports = [freePort() for _ in range(2000)]
        self.assertEqual(len(set(ports)), len(ports))
        self.assertLess(max(ports), _ephemeralPorts()[0])
