from twisted.trial.unittest import TestCase

from tests.support.handshake import InMemory, clientFrame, closeCode
from tests.test_protocol import factory
from wss_service.limits import IdleSweeper


class SendGuardTests(InMemory, TestCase):
    def test_slowReaderCut(self):
        f = factory(clock=self.clock, sendTimeout=3)
        protocol, transport = self.handshake(f)
        guard = transport.producer
        self.assertIsNotNone(guard, "registered when the connection opens")
        guard.pauseProducing()
        self.clock.advance(2)
        self.assertFalse(transport.disconnecting)
        self.clock.advance(2)
        self.assertTrue(transport.disconnecting or not transport.connected)
        self.assertEqual(f.metrics.limitCloses["send_timeout"], 1)

    def test_readerThatCatchesUpStays(self):
        f = factory(clock=self.clock, sendTimeout=3)
        protocol, transport = self.handshake(f)
        transport.producer.pauseProducing()
        self.clock.advance(2)
        transport.producer.resumeProducing()
        self.clock.advance(5)
        self.assertFalse(transport.disconnecting)

    def test_onByDefault(self):
        _, transport = self.handshake(factory(clock=self.clock))
        self.assertEqual(transport.producer.timeout, 30)

    def test_offWithZero(self):
        _, transport = self.handshake(factory(clock=self.clock, sendTimeout=0))
        self.assertIsNone(transport.producer)


class IdleTests(InMemory, TestCase):
    def test_idleClosedBusyKept(self):
        f = factory(clock=self.clock)
        sweeper = IdleSweeper(f, 10, self.clock)
        sweeper.startService()
        self.addCleanup(sweeper.stopService)
        idle, idleTransport = self.handshake(f)
        busy, busyTransport = self.handshake(f)
        idleTransport.clear()
        for _ in range(6):
            self.clock.advance(5)
            busy.dataReceived(clientFrame(b"tom"))
        self.assertEqual(closeCode(idleTransport.value()), 1000)
        self.assertIn(b"idle timeout", idleTransport.value())
        self.assertIsNone(closeCode(busyTransport.value()))
        self.assertEqual(f.metrics.limitCloses["idle"], 1)
