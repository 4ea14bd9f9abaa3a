"""
Autobahn times every connection's keepalive ping, its pong's deadline and
its handshakes with the factory's C{_batched_timer} (txaio's): calls due
in the same second share one reactor call. Each of txaio's calls is six
objects that live as long as the delay (the keepalive's twenty seconds:
long enough to reach the oldest garbage-collector generation, whose
collections then walk every connection), and cancelling one searches its
second's list: with 10,000 idle connections, about half of what the
keepalive costs.

L{Timers} keeps the same promise with one small object a call, removed in
constant time, in ticks of a fifth of a second.
"""

import math

from autobahn.websocket.protocol import WebSocketServerFactory
from twisted.logger import Logger

from wss_service.fastpaths.frames import namesAutobahnUses

log = Logger(namespace="wss")

# Ticks of 0.2 s, the precision Autobahn asks txaio for.
TICKS_PER_SECOND = 5
# At most this many calls run in one reactor turn, as txaio's chunks.
CHUNK = 1000


def missing():
    """Why this cannot serve here, or L{None} if it can."""
    if "_batched_timer" not in WebSocketServerFactory.__init__.__code__.co_names:
        return "Autobahn's factory keeps no _batched_timer"
    if not {"_batched_timer", "call_later", "cancel"} <= namesAutobahnUses():
        return "Autobahn no longer times connections with _batched_timer.call_later"
    return None


class Call:
    """A call L{Timers.call_later} will make, unless cancelled."""

    __slots__ = ("timers", "due", "func", "args", "kwargs")

    def __init__(self, timers, due, func, args, kwargs):
        self.timers = timers
        self.due = due
        self.func = func
        self.args = args
        self.kwargs = kwargs

    def cancel(self):
        """Do not make this call; once made or cancelled, nothing."""
        timers, self.timers = self.timers, None
        self.func = self.args = self.kwargs = None
        if timers is not None:
            timers._remove(self)


class Timers:
    """
    txaio's C{IBatchedTimer} (C{call_later}, and C{cancel} on what it
    returns), for the factory's C{_batched_timer}: a call runs in the
    first tick at or after its delay; calls due in one tick share one
    reactor call, at most L{CHUNK} of them in a reactor turn.
    """

    def __init__(self, reactor):
        self._reactor = reactor
        # tick number -> (its reactor call, {Call: None} in order)
        self._due = {}

    def call_later(self, delay, func, *args, **kwargs):
        now = self._reactor.seconds()
        due = math.ceil((now + delay) * TICKS_PER_SECOND)
        call = Call(self, due, func, args, kwargs or None)
        entry = self._due.get(due)
        if entry is None:
            later = max(0.0, due / TICKS_PER_SECOND - now)
            entry = self._due[due] = (self._reactor.callLater(later, self._run, due), {})
        entry[1][call] = None
        return call

    def _remove(self, call):
        entry = self._due.get(call.due)
        if entry is not None and entry[1].pop(call, 0) is None and not entry[1]:
            del self._due[call.due]
            entry[0].cancel()

    def _run(self, due):
        self._runSome(list(self._due.pop(due)[1]))

    def _runSome(self, calls):
        for call in calls[:CHUNK]:
            # One cancelled by an earlier call of this tick stays uncalled.
            if call.timers is None:
                continue
            func, args, kwargs = call.func, call.args, call.kwargs
            call.timers = call.func = call.args = call.kwargs = None
            try:
                if kwargs:
                    func(*args, **kwargs)
                else:
                    func(*args)
            except Exception:
                log.failure("a timed call failed: {func!r}", func=func)
        if len(calls) > CHUNK:
            self._reactor.callLater(0, self._runSome, calls[CHUNK:])
