"""
A C{--workers} worker's listening ports accept one connection a reactor
turn.

Every worker listens on the same sockets (L{wss_service.workers}), and the
kernel wakes them all for a new connection. Twisted's port accepts every
connection waiting when it is read, up to C{numberAccepts} (100 at first,
20 more each turn that found that many), so the first worker to wake after
a burst (every client reconnecting after a restart) took most of it: 79 of
100 connections on one of two workers. One at a time, the workers woken by
the same burst share it, and a busy worker, slower back to its accept,
takes fewer.
"""

from twisted.internet import tcp, unix


class _OneAtATime:
    """Accepts one connection each time the reactor reads the port."""

    numberAccepts = property(lambda self: 1, lambda self, value: None)


class _SharedTCPPort(_OneAtATime, tcp.Port):
    pass


class _SharedUNIXPort(_OneAtATime, unix.Port):
    pass


SHARED = {tcp.Port: _SharedTCPPort, unix.Port: _SharedUNIXPort}


def missing():
    """Why this cannot serve the installed Twisted, or L{None}."""
    if "numberAccepts" not in tcp.Port.doRead.__code__.co_names:
        return "Twisted's TCP port no longer accepts up to numberAccepts a read"
    if unix.Port.doRead is not tcp.Port.doRead:
        return "Twisted's UNIX port no longer accepts as its TCP port does"
    return None


def takeTurns(port):
    """
    Have C{port} accept one connection a reactor turn, once it listens;
    a port Twisted made of another class is left as it is.
    """
    shared = SHARED.get(type(port))
    if shared is not None and vars(port).pop("numberAccepts", None) is not None:
        port.__class__ = shared
    return port
