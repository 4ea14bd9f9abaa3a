from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IServiceMaker
from twisted.internet.endpoints import TCP4ServerEndpoint, TCP6ServerEndpoint
from twisted.internet.task import Clock
from twisted.plugin import getPlugins
from twisted.python.usage import UsageError
from twisted.trial.unittest import TestCase

from tests.support.pki import PKI
from wss_service import tap
from wss_service.apps import EchoProtocol, OkProtocol
from wss_service.endpoints import TLSServerEndpoint
from wss_service.service import WssService
from wss_service.tlsbuffers import BufferReleaser


def options(*argv):
    o = tap.Options()
    o.parseOptions(list(argv))
    return o


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
        self.assertRaises(UsageError, options, "--max-message-size", "lots")


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
        self.assertEqual(len(list(service)), 6,
                         "the listeners, the TLS buffer releaser and systemd's notifier")
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
        e = self.assertRaises(SystemExit, self.make, *argv)
        message = str(e.code)
        self.assertTrue(message.startswith("wss: "), message)
        self.assertIn(fragment, message)
        self.assertNotIn("\n", message)
        return message

    def test_badEndpoint(self):
        self.assertExits("cannot use --endpoint 'tpc:8282'", "--endpoint", "tpc:8282")
        self.assertExits("e.g. tcp:8282", "--endpoint", "tcp:notaport")

    def test_badTrustedProxy(self):
        self.assertExits("--trusted-proxy", "--trusted-proxy", "10.0.0.0/33")

    def test_badApp(self):
        self.assertExits("cannot import", "--app", "no_such_module:X")
        self.assertExits("has no Missing", "--app", "wss_service.apps:Missing")
        self.assertExits("not a subclass", "--app", "tests.support.apps:NotAProtocol")
        self.assertExits("module:Class", "--app", "justaname")


class WorkerArgumentsTests(TestCase):
    def test_changedOptionsAndRepeatablesPassedOn(self):
        o = options("--workers", "3", "--app", "wss_service.apps:EchoProtocol",
                    "--path", "/wss", "--trusted-proxy", "10.0.0.0/8", "--compression",
                    "--endpoint", "tcp:1", "--metrics-endpoint", "tcp:2", "--log-format", "json")
        arguments = tap.workerArguments(o)
        self.assertEqual(arguments[:2], ["-n", "--pidfile="])
        self.assertIn("--logger=wss_service.logs.jsonObserver", arguments)
        wss = arguments.index("wss")
        self.assertEqual(sorted(arguments[wss + 1:]), sorted([
            "--app=wss_service.apps:EchoProtocol", "--path=/wss",
            "--trusted-proxy=10.0.0.0/8", "--compression", "--log-format=json"]))
