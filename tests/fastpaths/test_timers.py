"""
The factory's timers keep txaio's promise (a call runs once, not before
its delay, unless cancelled), and leave no reactor call behind.
"""

from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from tests.support.handshake import InMemory, clientFrame, serverFrames
from tests.test_protocol import factory
from wss_service.apps import EchoProtocol
from wss_service.factory import ServiceFactory
from wss_service.fastpaths import FastPaths, timers
from wss_service.fastpaths.timers import Timers


class Turns(Clock):
    """A L{Clock} whose C{advance} is one reactor turn: it runs only what was due as it began."""

    def advance(self, amount):
        self.rightNow += amount
        for call in sorted((c for c in self.calls if c.getTime() <= self.rightNow),
                           key=lambda c: c.getTime()):
            self.calls.remove(call)
            call.called = 1
            call.func(*call.args, **call.kw)


class TimersTests(TestCase):
    def setUp(self):
        self.clock = Clock()
        self.timers = Timers(self.clock)
        self.called = []

    def call(self, delay, name, *args, **kwargs):
        return self.timers.call_later(delay, self.called.append, (name, args, kwargs)
                                      if args or kwargs else name)

    def test_notBeforeItsDelayAndWithinATick(self):
        for delay in (0, 0.05, 0.2, 0.3, 1, 19.99, 20):
            self.clock.advance(0.07)
            start = self.clock.seconds()
            self.call(delay, delay)
            if delay:
                self.clock.advance(delay - 1e-6)
                self.assertEqual(self.called, [], delay)
            self.clock.advance(1 / timers.TICKS_PER_SECOND + 2e-6)
            self.assertEqual(self.called, [delay], delay)
            self.assertLessEqual(self.clock.seconds() - start, delay + 1 / timers.TICKS_PER_SECOND + 1e-5)
            self.called.clear()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_argumentsAndOrder(self):
        received = []
        self.timers.call_later(1, lambda *a, **k: received.append((a, k)), 1, 2, x=3)
        self.timers.call_later(1, lambda: received.append("second"))
        self.clock.advance(1)
        self.assertEqual(received, [((1, 2), {"x": 3}), "second"])

    def test_cancelled(self):
        first, second = self.call(5, "first"), self.call(5, "second")
        first.cancel()
        first.cancel()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        second.cancel()
        self.assertEqual(self.clock.getDelayedCalls(), [], "nothing left to run")
        self.clock.advance(10)
        self.assertEqual(self.called, [])

    def test_cancelledAfterItRan(self):
        call = self.call(1, "once")
        self.clock.advance(1)
        call.cancel()
        self.call(1, "next")
        self.clock.advance(1)
        self.assertEqual(self.called, ["once", "next"])

    def test_cancelledByAnEarlierCallOfItsTick(self):
        later = []
        self.timers.call_later(1, lambda: later[0].cancel())
        later.append(self.call(1, "cancelled"))
        self.call(1, "kept")
        self.clock.advance(1)
        self.assertEqual(self.called, ["kept"])

    def test_aCallMadeWhileItsTickRuns(self):
        self.timers.call_later(1, lambda: self.call(0, "now"))
        self.clock.advance(1)
        self.clock.advance(0)
        self.assertEqual(self.called, ["now"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_atMostAChunkATurn(self):
        self.clock = Turns()
        self.timers = Timers(self.clock)
        for n in range(timers.CHUNK * 2 + 5):
            self.call(1, n)
        self.clock.advance(1)
        self.assertEqual(self.called, list(range(timers.CHUNK)))
        self.clock.advance(0)
        self.clock.advance(0)
        self.assertEqual(self.called, list(range(timers.CHUNK * 2 + 5)))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_aFailingCallIsLoggedAndTheOthersRun(self):
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        self.timers.call_later(1, lambda: 1 / 0)
        self.call(1, "after")
        self.clock.advance(1)
        self.assertEqual(self.called, ["after"])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertTrue(any("a timed call failed" in e.get("log_format", "") for e in events))


class FactoryTests(InMemory, TestCase):
    def test_theFactoryTimesWithThem(self):
        self.assertIsInstance(factory(clock=self.clock)._batched_timer, Timers)
        plain = ServiceFactory(EchoProtocol, reactor=self.clock, fast=FastPaths())
        self.assertNotIsInstance(plain._batched_timer, Timers)

    def test_keepalive(self):
        """Pings, pongs, a missed pong and the handshake deadline, on these timers."""
        protocol, transport = self.handshake(
            factory(EchoProtocol, clock=self.clock, pingInterval=20, pingTimeout=10))
        for _ in range(3):
            transport.clear()
            self.clock.advance(20)
            (opcode, payload), = serverFrames(transport.value())
            self.assertEqual(opcode, 0x9)
            protocol.dataReceived(clientFrame(payload, opcode=0xA))
            self.clock.advance(10)
            self.assertFalse(transport.disconnecting)
        self.clock.advance(20)
        self.clock.advance(10)
        self.assertTrue(transport.disconnecting, "no pong in time")
        silent, silentTransport = self.connect(factory(clock=self.clock, handshakeTimeout=5))
        self.clock.advance(5)
        self.assertTrue(silentTransport.disconnecting, "no handshake in time")
        for connection in (protocol, silent):
            self.lose(connection)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_autobahnChanged(self):
        self.assertIsNone(timers.missing())
        self.patch(timers, "namesAutobahnUses", set)
        self.assertIn("call_later", timers.missing())
