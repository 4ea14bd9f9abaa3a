from twisted.trial.unittest import TestCase

from wss_service.realip import LOOPBACK, clientAddress, parseAddress, parseNetworks

TRUSTED = parseNetworks(LOOPBACK + ("10.0.0.0/8",))


class ParseAddressTests(TestCase):
    def test_forms(self):
        for text, expected in [
            ("1.2.3.4", "1.2.3.4"),
            (" 1.2.3.4:5678 ", "1.2.3.4"),
            ("::1", "::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ('"[2001:db8::1]:4711"', "2001:db8::1"),
            ("::ffff:192.0.2.1", "192.0.2.1"),
        ]:
            self.assertEqual(str(parseAddress(text)), expected, text)

    def test_malformed(self):
        for text in ["", "unknown", "_hidden", "1.2.3", "a:b:c", "[::1", "1.2.3.4, 5.6.7.8"]:
            self.assertIsNone(parseAddress(text), text)


class ClientAddressTests(TestCase):
    def test_untrustedPeerIgnoresHeaders(self):
        headers = {"x-real-ip": "9.9.9.9", "x-forwarded-for": "9.9.9.9",
                   "forwarded": "for=9.9.9.9"}
        self.assertEqual(clientAddress("192.0.2.7", headers, TRUSTED), "192.0.2.7")

    def test_trustedPeerWithoutHeaders(self):
        self.assertEqual(clientAddress("127.0.0.1", {}, TRUSTED), "127.0.0.1")

    def test_xRealIP(self):
        self.assertEqual(
            clientAddress("127.0.0.1", {"x-real-ip": "198.51.100.9"}, TRUSTED),
            "198.51.100.9")

    def test_xForwardedForRightmostUntrusted(self):
        headers = {"x-forwarded-for": "6.6.6.6, 198.51.100.9, 10.1.2.3"}
        self.assertEqual(clientAddress("127.0.0.1", headers, TRUSTED), "198.51.100.9")

    def test_xForwardedForAllTrusted(self):
        headers = {"x-forwarded-for": "10.0.0.5, 10.1.2.3"}
        self.assertEqual(clientAddress("127.0.0.1", headers, TRUSTED), "10.0.0.5")

    def test_spoofedLeftEntriesIgnored(self):
        headers = {"x-forwarded-for": "garbage, 1.1.1.1, 198.51.100.9"}
        self.assertEqual(clientAddress("127.0.0.1", headers, TRUSTED), "198.51.100.9")

    def test_forwardedWinsOverOthers(self):
        headers = {
            "forwarded": 'for=192.0.2.60;proto=https, for="[2001:db8:cafe::17]:4711"',
            "x-forwarded-for": "5.5.5.5",
            "x-real-ip": "4.4.4.4",
        }
        self.assertEqual(clientAddress("::1", headers, TRUSTED), "2001:db8:cafe::17")

    def test_forwardedChain(self):
        headers = {"forwarded": "for=192.0.2.60, for=10.0.0.1"}
        self.assertEqual(clientAddress("127.0.0.1", headers, TRUSTED), "192.0.2.60")

    def test_malformedHeaderFallsBack(self):
        headers = {"forwarded": "for=unknown", "x-forwarded-for": "nonsense",
                   "x-real-ip": "198.51.100.9"}
        self.assertEqual(clientAddress("127.0.0.1", headers, TRUSTED), "198.51.100.9")

    def test_allMalformedGivesPeer(self):
        headers = {"x-real-ip": "1.2.3.4, 5.6.7.8", "x-forwarded-for": "::zz"}
        self.assertEqual(clientAddress("127.0.0.1", headers, TRUSTED), "127.0.0.1")

    def test_ipv6Peer(self):
        self.assertEqual(clientAddress("2001:db8::2", {"x-real-ip": "1.1.1.1"}, TRUSTED),
                         "2001:db8::2")
        self.assertEqual(clientAddress("::1", {"x-real-ip": "2001:db8::3"}, TRUSTED),
                         "2001:db8::3")

    def test_ipv4MappedPeerIsTrusted(self):
        self.assertEqual(
            clientAddress("::ffff:127.0.0.1", {"x-real-ip": "198.51.100.9"}, TRUSTED),
            "198.51.100.9")

    def test_unixPeerTrusted(self):
        self.assertEqual(clientAddress(None, {"x-real-ip": "198.51.100.9"}, TRUSTED),
                         "198.51.100.9")
        self.assertIsNone(clientAddress(None, {}, TRUSTED))

    def test_nothingTrusted(self):
        self.assertEqual(clientAddress("127.0.0.1", {"x-real-ip": "1.1.1.1"}, ()),
                         "127.0.0.1")
