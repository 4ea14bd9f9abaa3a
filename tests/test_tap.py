import os
from dataclasses import replace

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IServiceMaker
from twisted.internet.endpoints import TCP4ServerEndpoint, TCP6ServerEndpoint
from twisted.internet.task import Clock
from twisted.plugin import getPlugins
from twisted.trial.unittest import TestCase

from tests.support.pki import PKI
from wss_service import tap
from wss_service.factory import Settings
from wss_service.apps import EchoProtocol, OkProtocol
from wss_service.endpoints import TLSServerEndpoint
from wss_service.service import WssService
from wss_service.fastpaths.tlsbuffers import BufferReleaser
from wss_service.logs import WORKER_VARIABLE


def options(*argv):
    o = tap.Options()
    o.parseOptions(list(argv))
    return o


def assertOneLineExit(testCase, fragment, call, *argv):
    """C{call(*argv)} ends the process with one line C{wss: ...} holding C{fragment}."""
    e = testCase.assertRaises(SystemExit, call, *argv)
    message = str(e.code)
    testCase.assertTrue(message.startswith("wss: "), message)
    testCase.assertIn(fragment, message)
    testCase.assertNotIn("\n", message)
    return message


class OptionsTests(TestCase):
    def test_defaults(self):
        o = options()
        self.assertEqual(o["endpoints"], ["tcp:8282:interface=127.0.0.1"])
        self.assertEqual(o["trustedProxies"], ["127.0.0.0/8", "::1/128"])
        self.assertEqual(o["app"], "wss_service.apps:OkProtocol")
        self.assertEqual(o["max-message-size"], 1024 * 1024)
        self.assertEqual(o["paths"], [])
        self.assertEqual(o["origins"], [])

    def test_repeatable(self):
        o = options("--endpoint", "tcp:1", "-e", "tcp:2", "--path", "/a", "--path", "/b",
                    "--allowed-origin", "https://a.example", "--trusted-proxy", "10.0.0.0/8",
                    "--trusted-proxy", "fd00::/8")
        self.assertEqual(o["endpoints"], ["tcp:1", "tcp:2"])
        self.assertEqual(o["paths"], ["/a", "/b"])
        self.assertEqual(o["origins"], ["https://a.example"])
        self.assertEqual(o["trustedProxies"], ["10.0.0.0/8", "fd00::/8"])

    def test_numbers(self):
        o = options("--max-message-size", "10", "--ping-interval", "0.5")
        self.assertEqual(o["max-message-size"], 10)
        self.assertEqual(o["ping-interval"], 0.5)

    def assertUsageLine(self, fragment, *argv):
        return assertOneLineExit(self, fragment, options, *argv)

    def test_everyNumberChecked(self):
        numeric = [row for row in tap.Options.optParameters if len(row) > 4]
        self.assertEqual(len(numeric), 15)
        for name, _, default, _, coerce in numeric:
            for bad in ["-1", "lots", "nan", "inf", ""]:
                message = self.assertUsageLine(f"--{name} takes ", f"--{name}", bad)
                self.assertIn(f"e.g. --{name} ", message)
            # The default itself passes its own check.
            self.assertEqual(coerce(str(default)), default)

    def test_ranges(self):
        self.assertUsageLine("--workers takes a whole number, 1 or more, not '0'",
                             "--workers", "0")
        self.assertUsageLine("--max-connections takes a whole number, 0 (no limit) or more, "
                             "not '-3'; e.g. --max-connections 10000", "--max-connections", "-3")
        self.assertUsageLine("--handshake-timeout takes a number of seconds, above 0",
                             "--handshake-timeout", "0")
        self.assertUsageLine("--workers takes a whole number", "--workers", "2.5")
        self.assertEqual(options("--idle-timeout", "0", "--workers", "3")["workers"], 3)

    def test_otherUsageErrorsOneLine(self):
        self.assertUsageLine("--log-format takes text or json, not 'xml'", "--log-format", "xml")
        self.assertUsageLine("option --nope not recognized", "--nope")

    def test_defaultsAreTheFactorys(self):
        o, settings = options(), Settings()
        self.assertEqual(o["max-connections-per-ip"], settings.maxConnectionsPerIP)
        self.assertEqual(o["send-timeout"], settings.sendTimeout)
        self.assertEqual(o["max-message-size"], settings.maxMessageSize)
        self.assertEqual(o["ping-interval"], settings.pingInterval)
        self.assertEqual(replace(tap._settings(o), trustedProxies=()), settings)

    def test_version(self):
        e = self.assertRaises(SystemExit, options, "--version")
        self.assertEqual(e.code, 0)


class PluginTests(TestCase):
    def test_discovered(self):
        makers = {p.tapname: p for p in getPlugins(IServiceMaker)}
        self.assertIn("wss", makers)
        self.assertIs(makers["wss"].options, tap.Options)


class MakeServiceTests(TestCase):
    def make(self, *argv):
        return tap.makeService(options(*argv), reactor=Clock())

    def test_oneListenerPerEndpoint(self):
        pki = PKI(self.mktemp())
        service = self.make("--endpoint", "tcp:8282:interface=127.0.0.1",
                            "--endpoint", "tcp6:8283:interface=\\:\\:1",
                            "--endpoint", pki.endpoint(8443),
                            "--endpoint", pki.endpoint(8444),
                            "--app", "wss_service.apps:EchoProtocol")
        self.assertIsInstance(service, WssService)
        children = [c for c in service if isinstance(c, StreamServerEndpointService)]
        self.assertEqual(len(children), 4)
        self.assertEqual(len(list(service)), 9, "the listeners, the hub, the TLS buffer "
                         "releaser, the wss-hub.v1 pinger, the lean dispatch and systemd's "
                         "notifier")
        self.assertEqual(len([c for c in service if isinstance(c, BufferReleaser)]), 1)
        for child in children:
            self.assertIsInstance(child, StreamServerEndpointService)
            self.assertIs(child.factory, service.factory)
        self.assertIsInstance(children[0].endpoint, TCP4ServerEndpoint)
        self.assertIsInstance(children[1].endpoint, TCP6ServerEndpoint)
        self.assertIsInstance(children[2].endpoint, TLSServerEndpoint)
        self.assertEqual(len(service.tls), 1, "endpoints with the same files share TLS")
        self.assertTrue(issubclass(service.factory.protocol, EchoProtocol))

    def test_defaultApp(self):
        service = self.make()
        self.assertTrue(issubclass(service.factory.protocol, OkProtocol))
        self.assertFalse([c for c in service if isinstance(c, BufferReleaser)],
                         "no TLS, nothing to release")

    def test_settingsReachFactory(self):
        f = self.make("--max-message-size", "77", "--max-frame-size", "66",
                      "--handshake-timeout", "3", "--ping-interval", "9",
                      "--path", "/wss").factory
        self.assertEqual(f.maxMessagePayloadSize, 77)
        self.assertEqual(f.maxFramePayloadSize, 66)
        self.assertEqual(f.openHandshakeTimeout, 3)
        self.assertEqual(f.autoPingInterval, 9)
        self.assertEqual(f.paths, {"/wss"})
        self.assertFalse(f.webStatus)

    def assertExits(self, fragment, *argv):
        return assertOneLineExit(self, fragment, self.make, *argv)

    def listeningPorts(self, *argv):
        """The ports a service made of C{argv} listens on, with the real reactor."""
        from twisted.internet import reactor

        service = tap.makeService(options(*argv), reactor=reactor)
        ports = []
        for child in service:
            if isinstance(child, StreamServerEndpointService):
                child.privilegedStartService()
                child.whenListening(ports.append)
                self.addCleanup(child.stopService)
        return ports

    def test_workersTakeTurnsAtTheirSharedSockets(self):
        endpoints = lambda: ["--endpoint", "tcp:0:interface=127.0.0.1",
                             "--metrics-endpoint", "unix:" + self.mktemp()]
        for port in self.listeningPorts(*endpoints()):
            self.assertEqual(port.numberAccepts, 100, "one process alone takes all waiting")
        self.patch(os, "environ", dict(os.environ, **{WORKER_VARIABLE: "1"}))
        ports = self.listeningPorts(*endpoints())
        self.assertEqual(len(ports), 2)
        for port in ports:
            self.assertEqual(port.numberAccepts, 1)
        for port in self.listeningPorts("--no-fast-paths", *endpoints()):
            self.assertEqual(port.numberAccepts, 100, "Twisted's own accepts")

    def test_badEndpoint(self):
        self.assertExits("cannot use --endpoint 'tpc:8282'", "--endpoint", "tpc:8282")
        self.assertExits("e.g. tcp:8282", "--endpoint", "tcp:notaport")
        self.assertExits("'tcp:8282:foo=1': tcp: takes no option foo= (a typo?)",
                         "--endpoint", "tcp:8282:foo=1")
        self.assertExits("ssl: takes no option bogus=", "--endpoint", "ssl:8443:bogus=1")
        self.assertExits("tcp: needs port", "--endpoint", "tcp:interface=127.0.0.1")
        self.assertExits("not a whole number ('x')", "--endpoint", "tcp:8282:backlog=x")

    def test_badTrustedProxy(self):
        self.assertExits("--trusted-proxy", "--trusted-proxy", "10.0.0.0/33")

    def test_badApp(self):
        self.assertExits("cannot import", "--app", "no_such_module:X")
        self.assertExits("has no Missing", "--app", "wss_service.apps:Missing")
        self.assertExits("not a subclass", "--app", "tests.support.apps:NotAProtocol")
        self.assertExits("module:Class", "--app", "justaname")

    def test_appThatFailsToImport(self):
        message = self.assertExits("importing tests.support.broken.syntax_app failed at ",
                                   "--app", "tests.support.broken.syntax_app:App")
        self.assertIn("syntax_app.py:3: SyntaxError", message)
        message = self.assertExits("importing tests.support.broken.raising_app failed at ",
                                   "--app", "tests.support.broken.raising_app:App")
        self.assertIn("raising_app.py:3: RuntimeError: no database configured; fix the module",
                      message)


class WorkerArgumentsTests(TestCase):
    def test_changedOptionsAndRepeatablesPassedOn(self):
        o = options("--workers", "3", "--app", "wss_service.apps:EchoProtocol",
                    "--path", "/wss", "--trusted-proxy", "10.0.0.0/8", "--compression",
                    "--endpoint", "tcp:1", "--metrics-endpoint", "tcp:2", "--log-format", "json")
        arguments = tap.workerArguments(o)
        self.assertEqual(arguments[:3], ["-n", "--pidfile=",
                                         "--logger=wss_service.logs.jsonObserver"])
        self.assertEqual(tap.workerArguments(options())[2],
                         "--logger=wss_service.logs.workerTextObserver")
        wss = arguments.index("wss")
        self.assertEqual(sorted(arguments[wss + 1:]), sorted([
            "--app=wss_service.apps:EchoProtocol", "--path=/wss",
            "--trusted-proxy=10.0.0.0/8", "--compression", "--log-format=json"]))
