"""
The lean event dispatch, on an epoll reactor of its own (not trial's):
events still reach their descriptors, what a descriptor raises is logged
and the loop goes on, and stopping puts Twisted's own dispatch back.
"""

import os

from twisted.internet.epollreactor import EPollReactor
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from wss_service.fastpaths import dispatch
from wss_service.fastpaths.dispatch import LeanDispatch


class Pipe:
    """A readable end of a pipe, as a reactor's reader."""

    def __init__(self, raising=False):
        self.readFrom, self.writeTo = os.pipe()
        self.raising = raising
        self.read = []

    def fileno(self):
        return self.readFrom

    def logPrefix(self):
        return "pipe"

    def doRead(self):
        self.read.append(os.read(self.readFrom, 100))

    def connectionLost(self, reason):
        if self.raising:
            raise RuntimeError("connectionLost raised")

    def close(self):
        os.close(self.readFrom)
        os.close(self.writeTo)


class LeanDispatchTests(TestCase):
    def setUp(self):
        self.reactor = EPollReactor()
        self.addCleanup(self.reactor._poller.close)
        self.addCleanup(self.reactor.waker.connectionLost, None)
        self.service = LeanDispatch(self.reactor)

    def pipe(self, **kwargs):
        pipe = Pipe(**kwargs)
        self.addCleanup(pipe.close)
        self.addCleanup(self.reactor.removeReader, pipe)
        self.reactor.addReader(pipe)
        return pipe

    def test_eventsReachTheirDescriptors(self):
        self.service.startService()
        self.assertIn("doIteration", vars(self.reactor))
        pipe = self.pipe()
        os.write(pipe.writeTo, b"one")
        self.reactor.doIteration(1)
        self.assertEqual(pipe.read, [b"one"])

    def test_whatADescriptorRaisesIsLogged(self):
        self.service.startService()
        pipe = self.pipe(raising=True)
        other = self.pipe()
        # doRead returns "lost" for an empty read: the reactor then calls
        # connectionLost, which raises out of _doReadOrWrite.
        pipe.doRead = lambda: "lost"
        os.write(pipe.writeTo, b"x")
        os.write(other.writeTo, b"still")
        self.reactor.doIteration(1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(other.read, [b"still"])

    def test_stoppedPutsTwistedsBack(self):
        self.service.startService()
        self.assertIn("doIteration", vars(self.reactor))
        self.service.stopService()
        self.assertNotIn("doIteration", vars(self.reactor))
        self.assertNotIn("doPoll", vars(self.reactor))

    def test_onlyOnEpoll(self):
        clock = Clock()
        self.assertIn("Clock, not Twisted's epoll", dispatch.missing(clock))
        LeanDispatch(clock).startService()
        self.assertNotIn("doIteration", vars(clock))

    def test_twistedChanged(self):
        self.assertIsNone(dispatch.missing(self.reactor))
        self.patch(dispatch, "TWISTED", dispatch.TWISTED + ("_renamed",))
        self.assertIn("lacks _renamed", dispatch.missing(self.reactor))
