from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.trial.unittest import TestCase

from wss_service.service import listeningURL


class ListeningURLTests(TestCase):
    def test_addresses(self):
        self.assertEqual(listeningURL("ws", IPv4Address("TCP", "127.0.0.1", 8282)),
                         "ws://127.0.0.1:8282")
        self.assertEqual(listeningURL("wss", IPv6Address("TCP", "::1", 443)), "wss://[::1]:443")
        self.assertEqual(listeningURL("ws", UNIXAddress(b"/run/wss.sock")),
                         "ws+unix:/run/wss.sock")
