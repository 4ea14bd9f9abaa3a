from twisted.trial.unittest import TestCase

from wss_service.doctor.checks import Target, UsageError, checkURL


class TargetTests(TestCase):
    def test_parts(self):
        t = Target("wss://example.com/wss?token=a")
        self.assertEqual((t.secure, t.host, t.port, t.path, t.hostHeader),
                         (True, "example.com", 443, "/wss?token=a", "example.com"))
        self.assertEqual(Target("ws://[::1]:8282").port, 8282)
        self.assertTrue(Target("ws://[::1]:8282").isAddress)
        self.assertFalse(Target("wss://localhost/").isDomain)

    def test_usage(self):
        for url in ["https://example.com", "wss://", "wss://example.com:port/", "example.com"]:
            self.assertRaises(UsageError, Target, url)

    def test_url(self):
        self.assertEqual(checkURL(Target("wss://example.com/wss")).status, "ok")
        warned = checkURL(Target("ws://1.2.3.4/wss"))
        self.assertEqual(warned.status, "warn")
        self.assertIn("use wss://", warned.fix)
        self.assertIn("use the domain", warned.fix)
