"""
The epoll reactor's event loop without the legacy log context.

Twisted's C{EPollReactor.doPoll} hands every event to its descriptor
through C{log.callWithLogger}: a C{logPrefix()} call and a context pushed
and popped per event, so that old-style C{log.msg} lines name the
connection. The service logs with C{twisted.logger}, which does not read
that context. Here each event goes to the reactor's own
C{_doReadOrWrite}, and what it raises is logged as C{callWithLogger}
would (C{KeyboardInterrupt} passes). Old-style lines logged while a read
or write is handled say C{-} where they would name the connection.

Installed while the service runs, on Twisted's epoll reactor only.
"""

from twisted.application.service import Service
from twisted.internet.epollreactor import EPollReactor
from twisted.python import log as legacyLog

# What this uses of the reactor beyond its public interface.
TWISTED = ("_poller", "_selectables", "_doReadOrWrite", "doPoll")


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
    return None


def leanPoll(reactor):
    """C{reactor.doPoll}, without the per-event log context."""
    doReadOrWrite = reactor._doReadOrWrite
    selectables = reactor._selectables

    def doPoll(timeout):
        if timeout is None:
            timeout = -1
        # epoll_wait is retried on EINTR by Python itself (PEP 475).
        events = reactor._poller.poll(timeout, len(selectables))
        for fd, event in events:
            selectable = selectables.get(fd)
            if selectable is not None:
                try:
                    doReadOrWrite(selectable, fd, event)
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
