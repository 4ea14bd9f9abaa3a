import signal

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.epollreactor import EPollReactor
from twisted.trial.unittest import TestCase

from wss_service.service import SignalledService, listeningURL


class ListeningURLTests(TestCase):
    def test_addresses(self):
        self.assertEqual(listeningURL("ws", IPv4Address("TCP", "127.0.0.1", 8282)),
                         "ws://127.0.0.1:8282")
        self.assertEqual(listeningURL("wss", IPv6Address("TCP", "::1", 443)), "wss://[::1]:443")
        self.assertEqual(listeningURL("ws", UNIXAddress(b"/run/wss.sock")),
                         "ws+unix:/run/wss.sock")


class SignalsTests(TestCase):
    def setUp(self):
        self.reactor = EPollReactor()
        self.addCleanup(self.reactor._poller.close)
        self.addCleanup(self.reactor.waker.connectionLost, None)
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            self.addCleanup(signal.signal, number, signal.getsignal(number))
        self.stopped = []
        self.patch(self.reactor, "stop", lambda: self.stopped.append(True))

    def test_theReactorsOwnHandlersStopCleanly(self):
        """
        The handlers the reactor installs as it starts are the service's:
        however early a SIGTERM comes, twistd does not re-raise it.
        """
        service = SignalledService(self.reactor)
        service.privilegedStartService()
        for number in (signal.SIGTERM, signal.SIGINT):
            handler = {signal.SIGTERM: self.reactor.sigTerm,
                       signal.SIGINT: self.reactor.sigInt}[number]
            self.assertIs(handler, signal.getsignal(number))
            handler(number, None)
        self.reactor.runUntilCurrent()
        self.assertEqual(self.stopped, [True], "stopped once")
        self.assertIsNone(getattr(self.reactor, "_exitSignal", None))
