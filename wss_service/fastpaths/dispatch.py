"""
The epoll reactor's event loop without the legacy log context.

Twisted's C{EPollReactor.doPoll} hands every event to its descriptor
through C{log.callWithLogger}: a C{logPrefix()} call and a context pushed
and popped per event, so that old-style C{log.msg} lines name the
connection. The service logs with C{twisted.logger}, which does not read
that context. Here each event goes to the reactor's own
C{_doReadOrWrite}, and what it raises is logged as C{callWithLogger}
would (C{KeyboardInterrupt} passes); an event that is a read alone, the
common one, takes C{_doReadOrWrite}'s road for it here, one call shorter.
Old-style lines logged while a read or write is handled say C{-} where
they would name the connection.

Installed while the service runs, on Twisted's epoll reactor only.
"""

import sys
from select import EPOLLIN

from twisted.application.service import Service
from twisted.internet.epollreactor import EPollReactor
from twisted.internet.posixbase import _NO_FILEDESC
from twisted.python import log as legacyLog

# What this uses of the reactor beyond its public interface.
TWISTED = ("_poller", "_selectables", "_doReadOrWrite", "_disconnectSelectable", "doPoll")
# What _doReadOrWrite does with a read alone, as the lean dispatch does it.
READ_NAMES = ("fileno", "_NO_FILEDESC", "doRead", "_disconnectSelectable")


def missing(reactor=None):
    """Why this cannot serve C{reactor} (the installed one by default), or L{None}."""
    if reactor is None:
        from twisted.internet import reactor
    if type(reactor) is not EPollReactor:
        return f"the reactor is {type(reactor).__name__}, not Twisted's epoll reactor"
    absent = [name for name in TWISTED if not hasattr(reactor, name)]
    if absent:
        return f"Twisted's epoll reactor lacks {', '.join(absent)}"
    if "callWithLogger" not in EPollReactor.doPoll.__code__.co_names:
        return "Twisted's epoll reactor no longer dispatches through callWithLogger"
    if not set(READ_NAMES) <= set(EPollReactor._doReadOrWrite.__code__.co_names):
        return "Twisted's epoll reactor no longer reads as the lean dispatch does"
    return None


def leanPoll(reactor):
    """C{reactor.doPoll}, without the per-event log context."""
    doReadOrWrite = reactor._doReadOrWrite
    disconnect = reactor._disconnectSelectable
    selectables = reactor._selectables

    def doPoll(timeout):
        if timeout is None:
            timeout = -1
        # epoll_wait is retried on EINTR by Python itself (PEP 475).
        events = reactor._poller.poll(timeout, len(selectables))
        for fd, event in events:
            selectable = selectables.get(fd)
            if selectable is None:
                continue
            try:
                if event != EPOLLIN:
                    doReadOrWrite(selectable, fd, event)
                    continue
                # As _doReadOrWrite reads, and fails what raises.
                inRead = False
                try:
                    if selectable.fileno() == -1:
                        why = _NO_FILEDESC
                    else:
                        why = selectable.doRead()
                        inRead = True
                except BaseException:
                    why = sys.exc_info()[1]
                    legacyLog.err()
                if why:
                    disconnect(selectable, why, inRead)
            except KeyboardInterrupt:
                raise
            except BaseException:
                legacyLog.err()

    return doPoll


class LeanDispatch(Service):
    """While running, C{reactor} dispatches its events the lean way."""

    def __init__(self, reactor):
        self.reactor = reactor

    def startService(self):
        super().startService()
        if missing(self.reactor) is None:
            self.reactor.doIteration = self.reactor.doPoll = leanPoll(self.reactor)

    def stopService(self):
        for name in ("doIteration", "doPoll"):
            vars(self.reactor).pop(name, None)
        return super().stopService()
