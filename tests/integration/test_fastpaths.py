"""
The service with its fast paths unavailable (--no-fast-paths, or an
internal of a library missing) still does what the behaviour tests ask,
through the libraries' own code: both modes, drain, reload, limits. The
short road for frames serves compiled or in Python, and says which.
"""

import sys

from twisted.trial.unittest import TestCase

from tests.integration import test_direct, test_lifecycle, test_operations, test_proxies
from tests.support.clients import exchange
from tests.support.compiled import requireCompiled
from tests.support.pki import PKI
from tests.support.service import Service, environment, freePort
from wss_service.fastpaths import frames, tlstransport
from wss_service.fastpaths.compiled import PURE

WITHOUT = ("--no-fast-paths",)

# A twistd whose libraries lack what two fast paths need.
BROKEN_LIBRARIES = (
    "import sys; "
    "import wss_service.fastpaths.openssl as o, wss_service.fastpaths.frames as f; "
    "o.FUNCTIONS += ('SSL_renamed',); f.AUTOBAHN += ('renamed',); "
    "sys.argv = ['twistd'] + sys.argv[1:]; "
    "from twisted.scripts.twistd import run; run()"
)


class DirectWithoutFastPaths(test_direct.DirectTests):
    serviceArguments = WITHOUT

    def test_saysSo(self):
        self.service.waitForLog("fast paths off (--no-fast-paths)")


class NginxWithoutFastPaths(test_proxies.NginxTests):
    serviceArguments = WITHOUT


class ShutdownWithoutFastPaths(test_lifecycle.ShutdownTests):
    serviceArguments = WITHOUT


class ReloadWithoutFastPaths(test_lifecycle.ReloadTests):
    serviceArguments = WITHOUT


class LimitsWithoutFastPaths(test_operations.LimitTests):
    serviceArguments = WITHOUT


class MissingInternalsTests(TestCase):
    def test_fallBackAndSaySo(self):
        pki = PKI(self.mktemp())
        port, tlsPort = freePort(), freePort()
        service = Service(self, "-n", "--pidfile=", "wss",
                          "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                          "--endpoint", pki.endpoint(tlsPort), "--app",
                          "wss_service.apps:EchoProtocol", port=tlsPort,
                          command=[sys.executable, "-c", BROKEN_LIBRARIES])
        for url, options in [(f"ws://127.0.0.1:{port}/wss", {}),
                             (f"wss://localhost:{tlsPort}/wss", {"ssl": pki.clientContext()})]:
            for message in ["tom", "x" * 70000, b"\x00\xff" * 10]:
                self.assertEqual(exchange(url, message, max_size=None, **options), message)
        lines = [line for line in service.log().splitlines() if "fast paths left out" in line]
        self.assertEqual(len(lines), 1, service.log())
        self.assertIn("tls: pyOpenSSL lacks SSL_renamed, so Twisted's TLS layer", lines[0])
        self.assertIn("frames: Autobahn lacks renamed, so Autobahn's frame road", lines[0])
        self.assertNotIn("quietSettings", lines[0])


class ShortRoadTests(TestCase):
    def serve(self, **env):
        pki = PKI(self.mktemp())
        port, tlsPort = freePort(), freePort()
        service = Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                          "--endpoint", pki.endpoint(tlsPort), "--app",
                          "wss_service.apps:EchoProtocol", port=tlsPort,
                          env=environment(**env))
        for url, options in [(f"ws://127.0.0.1:{port}/wss", {}),
                             (f"wss://localhost:{tlsPort}/wss", {"ssl": pki.clientContext()})]:
            for message in ["tom", "h\xe9" * 40000, b"\x00\xff" * 10]:
                self.assertEqual(exchange(url, message, max_size=None, **options), message)
        return service

    def test_pythonWhenAsked(self):
        service = self.serve(**{PURE: "1"})
        for what in ("short road for frames", "TLS layer's OpenSSL calls"):
            service.waitForLog(f"{what}: pure Python ({PURE}=1 in the environment)")

    def test_compiled(self):
        for road in (frames, tlstransport):
            requireCompiled(road)
        service = self.serve()
        for what in ("short road for frames", "TLS layer's OpenSSL calls"):
            service.waitForLog(f"{what}: compiled")
