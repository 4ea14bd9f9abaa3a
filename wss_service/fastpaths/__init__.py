"""
The fast paths: the only code in the service that reaches into another
library's internals (pyOpenSSL's cffi bindings and C{Connection}
attributes, Twisted's C{TLSMemoryBIOProtocol}, TCP transport, listening
ports and epoll reactor, Autobahn's frame machinery, its timers and its
settings log line).

Each is checked at start against the libraries installed. One that finds
anything missing is left out, with one log line, and the libraries' own
code serves instead: slower, with the same results. C{--no-fast-paths}
leaves them all out.
"""

from dataclasses import dataclass, fields
from functools import cache

from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory

from wss_service.fastpaths import (
    accepts, dispatch, frames, openssl, quietsettings, timers, tlstransport, writethrough,
)

log = Logger(namespace="wss")


@dataclass(frozen=True)
class FastPaths:
    """Which fast paths serve; by default, none."""

    tls: bool = False
    buffers: bool = False
    frames: bool = False
    quietSettings: bool = False
    writeThrough: bool = False
    dispatch: bool = False
    timers: bool = False
    accepts: bool = False

    def tlsFactory(self):
        """The TLS layer under wss connections."""
        return tlstransport.TLSFactory if self.tls else TLSMemoryBIOFactory


# Each path: what checks it, and what serves without it.
CHECKS = {
    "tls": (tlstransport.missing, "Twisted's TLS layer"),
    "buffers": (openssl.missing, "OpenSSL's buffers kept while idle"),
    "frames": (frames.missing, "Autobahn's frame road"),
    "quietSettings": (quietsettings.missing, "Autobahn's settings log line"),
    "writeThrough": (writethrough.missing, "Twisted's queued writes"),
    "dispatch": (dispatch.missing, "Twisted's event dispatch"),
    "timers": (timers.missing, "txaio's batched timers"),
    "accepts": (accepts.missing, "Twisted's accepting every connection waiting"),
}


@cache
def problems():
    """C{{path: why it cannot serve}} for the paths that cannot."""
    found = {}
    for name, (check, _) in CHECKS.items():
        problem = check()
        if problem:
            found[name] = problem
    return found


def available():
    """Every fast path the installed libraries allow."""
    return FastPaths(**{f.name: f.name not in problems() for f in fields(FastPaths)})


def select(enabled=True):
    """The fast paths to use, said in one log line where any is left out."""
    if not enabled:
        log.info("fast paths off (--no-fast-paths): Twisted's TLS layer, queued writes, "
                 "event dispatch and accepts, Autobahn's frame road and txaio's timers serve")
        return FastPaths()
    found = problems()
    if found:
        log.warn("fast paths left out, the libraries' own code serves instead (slower, the "
                 "same results): {paths}", paths="; ".join(
                     f"{name}: {problem}, so {CHECKS[name][1]}"
                     for name, problem in found.items()))
    paths = available()
    for road, what, serves in ((frames, "short road for frames", paths.frames),
                               (tlstransport, "TLS layer's OpenSSL calls", paths.tls)):
        if serves and road.compiled is not None:
            log.info("{what}: compiled ({module})", what=what, module=road.compiled.__file__)
        elif serves:
            log.info("{what}: pure Python ({why})", what=what, why=road.notCompiled)
    return paths
