"""
The running service: one listener per endpoint, signals, graceful stop.
"""

import signal
import sys

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService, Service
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

log = Logger(namespace="wss")


class ListeningService(StreamServerEndpointService):
    """
    Listens on one endpoint; a port that cannot be had ends the process
    with one line on standard error instead of a traceback.
    """

    _raiseSynchronously = True

    def __init__(self, description, endpoint, factory, scheme="ws", prepare=None):
        """
        @param prepare: called with the port once it listens, before the
            reactor reads it, if given.
        """
        super().__init__(endpoint, factory)
        self.description = description
        self.scheme = scheme
        self.prepare = prepare

    def _announce(self, port):
        log.info("listening on {url}", url=listeningURL(self.scheme, port.getHost()))

    def whenListening(self, callback):
        """Call C{callback(port)} once listening (never, if listening fails)."""

        def passOn(port):
            callback(port)
            return port

        self._waitingForPort.addCallback(passOn)

    def privilegedStartService(self):
        try:
            super().privilegedStartService()
        except Exception as e:
            cannotListen(self.description, e)
        if self.prepare is not None:
            self.whenListening(self.prepare)
        self.whenListening(self._announce)


def listeningURL(scheme, address):
    """C{ws://127.0.0.1:8282}, C{wss://[::1]:443}, C{ws+unix:/run/wss.sock}."""
    host = getattr(address, "host", None)
    if host is None:
        name = getattr(address, "name", address)
        return f"{scheme}+unix:{name.decode() if isinstance(name, bytes) else name}"
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{address.port}"


_earlySighups = []


def rememberSighup():
    """
    Until the service installs its own handlers, remember a SIGHUP (which
    would otherwise end the process) and reload once they are installed.
    """
    signal.signal(signal.SIGHUP, lambda signum, frame: _earlySighups.append(signum))


def cannotListen(description, error):
    """
    End the process with one line on standard error, for a listening
    endpoint that failed with C{error}.
    """
    if isinstance(error, CannotListenError):
        # An OSError, or words: a UNIX socket's lock file held by another process.
        reason = getattr(error.socketError, "strerror", None) or error.socketError or error
        message = (f"cannot listen on {description}: {reason}; stop whatever holds "
                   f"that address or choose another --endpoint")
    else:
        reason = str(error).rstrip(".")
        message = f"cannot listen on {description}: {reason}; choose another --endpoint"
    # twistd has redirected sys.stderr into the log by now.
    sys.__stderr__.write(f"wss: {message}\n")
    sys.__stderr__.flush()
    raise SystemExit(1)


class SignalledService(MultiService):
    """
    Reloads on SIGHUP; stops the reactor on SIGTERM and SIGINT so that the
    process drains through C{stopService} and exits 0.
    """

    _stopping = False

    def __init__(self, reactor):
        super().__init__()
        self.reactor = reactor

    def privilegedStartService(self):
        def later(action):
            return lambda signum, frame: self.reactor.callFromThread(action)

        # Before listening, for signals that come before the reactor runs.
        signal.signal(signal.SIGHUP, later(self.reload))
        if _earlySighups:
            _earlySighups.clear()
            self.reactor.callFromThread(self.reload)
        stop = later(self._stop)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        # And as the reactor's own: it installs its sigTerm and sigInt as it
        # starts, and a SIGTERM that found Twisted's would make twistd
        # re-raise it at exit (status -15, not 0).
        self.reactor.sigTerm = self.reactor.sigInt = stop
        super().privilegedStartService()

    def _stop(self):
        if not self._stopping:
            self._stopping = True
            self.reactor.stop()

    def reload(self):
        raise NotImplementedError


class WssService(SignalledService):
    """
    The whole service. On SIGHUP it re-reads every certificate; on SIGTERM
    or SIGINT it stops listening, closes every client with 1001, waits up to
    C{shutdownTimeout} seconds for them, and the process exits 0.

    @ivar tls: the L{wss_service.tls.ServerTLS} of every TLS endpoint.
    @ivar stopLast: children that stop only once the connections are gone.
    """

    tls = ()
    stopLast = ()

    def __init__(self, factory, shutdownTimeout, watchInterval=0, reactor=None):
        super().__init__(reactor or factory.reactor)
        self.factory = factory
        self.shutdownTimeout = shutdownTimeout
        self._watch = LoopingCall(self.reloadChanged)
        self._watch.clock = self.reactor
        self.watchInterval = watchInterval

    def startService(self):
        super().startService()
        if self.watchInterval and self.tls:
            self._watch.start(self.watchInterval, now=False)

    def reload(self):
        """Re-read every TLS endpoint's files."""
        log.info("reloading {count} TLS certificate(s)", count=len(self.tls))
        return [tls.reload() for tls in self.tls]

    def reloadChanged(self):
        """Re-read the TLS files that changed on disk."""
        for tls in self.tls:
            tls.reloadIfChanged()

    def stopService(self):
        """
        Stop listening (all but C{stopLast}), close every connection, and
        then stop C{stopLast} (the metrics listener, so that C{/healthz}
        answers 503 while the connections drain).
        """
        if self._watch.running:
            self._watch.stop()
        Service.stopService(self)
        first = [c for c in reversed(list(self)) if c not in self.stopLast]
        d = defer.gatherResults([defer.maybeDeferred(c.stopService) for c in first])
        log.info(
            "stopping: closing {count} connection(s), waiting up to {timeout}s",
            count=len(self.factory.connections),
            timeout=self.shutdownTimeout,
        )
        d.addCallback(lambda _: self.factory.goAway(self.shutdownTimeout))
        d.addCallback(lambda _: defer.gatherResults(
            [defer.maybeDeferred(c.stopService) for c in self.stopLast]))
        return d
