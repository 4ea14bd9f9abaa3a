"""
The lean event dispatch, on an epoll reactor of its own (not trial's):
events still reach their descriptors, what a descriptor raises is logged
and the loop goes on, a read ends as Twisted's own dispatch ends it, and
stopping puts Twisted's own dispatch back.
"""

import os

from zope.interface import implementer
from twisted.internet.epollreactor import EPollReactor
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHalfCloseableDescriptor
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
        self.ends = []

    def fileno(self):
        return self.readFrom

    def logPrefix(self):
        return "pipe"

    def doRead(self):
        self.read.append(os.read(self.readFrom, 100))

    def connectionLost(self, reason):
        self.ends.append(("connectionLost", reason.type))
        if self.raising:
            raise RuntimeError("connectionLost raised")

    def close(self):
        os.close(self.readFrom)
        os.close(self.writeTo)


@implementer(IHalfCloseableDescriptor)
class HalfCloseablePipe(Pipe):
    def readConnectionLost(self, reason):
        self.ends.append(("readConnectionLost", reason.type))


def done():
    return ConnectionDone()


def raises():
    raise ValueError("doRead raised")


# What a read returns or raises, and whether fileno() says the descriptor
# went away: each ends the descriptor in its own way.
READS = {"data": (None, False), "done": (done, False), "raises": (raises, False),
         "gone": (None, True)}


class LeanDispatchTests(TestCase):
    def setUp(self):
        self.reactor = EPollReactor()
        self.addCleanup(self.reactor._poller.close)
        self.addCleanup(self.reactor.waker.connectionLost, None)
        self.service = LeanDispatch(self.reactor)

    def pipe(self, cls=Pipe, **kwargs):
        pipe = cls(**kwargs)
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

    def readEnds(self, lean, kind, cls):
        """What a descriptor sees of one read event, and what is logged."""
        pipe = self.pipe(cls=cls)
        doRead, gone = READS[kind]
        if doRead:
            pipe.doRead = doRead
        if gone:
            pipe.fileno = lambda: -1
        os.write(pipe.writeTo, b"x")
        if lean:
            self.service.startService()
        self.assertEqual("doPoll" in vars(self.reactor), lean)
        self.reactor.doIteration(1)
        self.service.stopService()
        logged = [f.type for f in self.flushLoggedErrors()]
        return pipe.read, pipe.ends, logged, pipe in self.reactor.getReaders()

    def test_readsEndAsTwistedsOwn(self):
        for kind in READS:
            for cls in (Pipe, HalfCloseablePipe):
                self.assertEqual(self.readEnds(True, kind, cls), self.readEnds(False, kind, cls),
                                 (kind, cls.__name__))

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

    def test_twistedReadsOtherwise(self):
        self.patch(dispatch, "READ_NAMES", dispatch.READ_NAMES + ("_renamed",))
        self.assertEqual(dispatch.missing(self.reactor),
                         "Twisted's epoll reactor no longer reads as the lean dispatch does")
