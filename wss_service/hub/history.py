"""
History: which streams keep their messages (C{--history}), and the store
of one process without Redis (with Redis, L{presence} keeps it in Redis
Streams).

A stream is C{group:NAME}, C{uid:NAME} or C{all}. Each message sent to a
stream with history gets the stream's next offset (1, 2, 3, ...); a stream
has an epoch that changes when its history is lost, so that an offset is
only ever compared within one epoch. The last C{size} messages are kept,
until the stream has been quiet for C{ttl} seconds; its epoch and offset
are kept for L{metaSeconds}.
"""

import fnmatch
import os
import re
from collections import deque
from dataclasses import dataclass

from wss_service.errors import ConfigurationError

SIZE = 100
TTL = 300.0
PATTERN = re.compile(r"\*|all|(group|uid):.+")


def metaSeconds(ttl):
    """How long a stream's epoch and offset outlive its last message."""
    return max(86400, int(2 * ttl))


def newEpoch():
    return os.urandom(4).hex()


def streams(kind, keys):
    """The streams a send reaches: C{group:NAME}, C{uid:NAME} for each key, or C{all}."""
    if kind == "all":
        return ["all"]
    if kind in ("group", "uid"):
        return [f"{kind}:{key}" for key in keys]
    return []


def belongs(stream, uid, groups):
    """Whether a connection with this uid and these groups is in C{stream}."""
    kind, _, name = stream.partition(":")
    return kind == "all" or (kind == "uid" and name == uid) or (kind == "group"
                                                                  and name in groups)


@dataclass(frozen=True)
class History:
    """What keeps history: glob C{patterns} over stream names, C{size} and C{ttl}."""

    patterns: tuple = ()
    size: int = SIZE
    ttl: float = TTL

    def __post_init__(self):
        for pattern in self.patterns:
            if not PATTERN.fullmatch(pattern):
                raise ConfigurationError(
                    f"--history {pattern!r} names no stream; give a glob over group:NAME, "
                    f"uid:NAME or all, e.g. --history 'group:*' --history 'uid:*'")

    def kept(self, names):
        """Of these stream names, those with history."""
        return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in self.patterns)]


@dataclass
class Page:
    """
    What a stream holds after an offset: C{entries} are C{(offset, data,
    positions, order)}, C{order} placing the message among all kept ones.
    """

    epoch: str
    offset: int
    entries: list


class MemoryHistory:
    """The streams of one process (no Redis), on C{clock}."""

    def __init__(self, history, clock):
        self.history = history
        self.clock = clock
        self._streams = {}
        self._order = 0

    def _stream(self, name):
        now = self.clock.seconds()
        stream = self._streams.get(name)
        if stream is not None and now - stream["at"] > metaSeconds(self.history.ttl):
            stream = None
        if stream is None:
            stream = {"epoch": newEpoch(), "offset": 0, "at": now,
                      "entries": deque(maxlen=self.history.size)}
            self._streams[name] = stream
        elif now - stream["at"] > self.history.ttl:
            stream["entries"].clear()
        return stream

    def append(self, names, data):
        """Keep C{data} in each stream; its positions C{[[stream, epoch, offset], ...]}."""
        touched = [self._stream(n) for n in names]
        positions = []
        for name, stream in zip(names, touched):
            stream["offset"] += 1
            stream["at"] = self.clock.seconds()
            positions.append([name, stream["epoch"], stream["offset"]])
        self._order += 1
        for stream, position in zip(touched, positions):
            stream["entries"].append((position[2], data, positions, self._order))
        return positions

    def read(self, name, since=None, epoch=None, limit=None):
        """A L{Page}: entries after C{since}, if C{epoch} is the stream's (or L{None})."""
        stream = self._stream(name)
        entries = []
        if since is not None and epoch in (None, stream["epoch"]):
            entries = [e for e in stream["entries"] if e[0] > since][:limit]
        return Page(stream["epoch"], stream["offset"], entries)
