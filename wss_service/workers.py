"""
C{--workers N}: one master binds every listening socket, then runs N
C{twistd wss} workers that adopt them as systemd would hand them over
(C{systemd:domain=...:index=i}, TLS on top where the endpoint had it). The
kernel wakes every worker for a new connection, and each takes one at a
time (L{wss_service.fastpaths.accepts}), so a burst is shared. The master
restarts a worker that dies, passes SIGHUP on, and on SIGTERM waits for
every worker to drain.
"""

import os
import signal
import socket
import sys

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.protocol import Factory, Protocol, ProcessProtocol
from twisted.logger import Logger

from wss_service.endpoints import inheritedDescription
from wss_service.logs import WORKER_VARIABLE
from wss_service.service import SignalledService, cannotListen

log = Logger(namespace="wss")

# Run twistd with LISTEN_PID set to its own pid, as systemd does; a SIGHUP
# before the service can remember one is ignored (the files are read after).
# A worker gets SIGTERM (and drains) when the master ends, even by SIGKILL,
# so that no worker outlives it holding the sockets.
LAUNCH = (
    "import ctypes, os, signal, sys; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
    "sys.platform != 'linux' or ctypes.CDLL(None).prctl(1, signal.SIGTERM); "  # PDEATHSIG
    "os.getppid() == {master} or sys.exit('wss: the master is gone'); "
    "os.environ['LISTEN_PID'] = str(os.getpid()); "
    "sys.argv = ['twistd'] + sys.argv[1:]; "
    "from twisted.scripts.twistd import run; run()"
)
RESTART_DELAYS = (1, 2, 4, 8, 16, 30)
STABLE_SECONDS = 10
FAMILIES = {socket.AF_INET: "INET", socket.AF_INET6: "INET6", socket.AF_UNIX: "UNIX"}


class SharedSockets(Service):
    """
    Binds each endpoint once in the master, without accepting on it.

    @param endpoints: C{(option, description, endpoint)} for each, where
        option is the worker's option for it (C{--endpoint}, ...).
    """

    def __init__(self, endpoints):
        self.endpoints = endpoints
        self.ports = []

    def privilegedStartService(self):
        super().privilegedStartService()
        holder = Factory.forProtocol(Protocol)
        holder.noisy = False
        for _, description, endpoint in self.endpoints:
            failures = []
            d = endpoint.listen(holder)
            d.addCallbacks(self.ports.append, failures.append)
            if failures:
                cannotListen(description, failures[0].value)
            self.ports[-1].stopReading()

    def workerArguments(self):
        """The options with which a worker adopts the inherited sockets."""
        arguments = []
        for index, ((option, description, _), port) in enumerate(zip(self.endpoints, self.ports)):
            family = FAMILIES[port.socket.family]
            arguments += [option, inheritedDescription(description, index, family)]
        return arguments

    def filenos(self):
        return [port.fileno() for port in self.ports]

    def stopService(self):
        super().stopService()
        return defer.gatherResults([port.stopListening() for port in self.ports])


class Worker(ProcessProtocol):
    def __init__(self, supervisor, number, failures):
        self.supervisor = supervisor
        self.number = number
        self.failures = failures
        self.started = supervisor.reactor.seconds()
        self.ended = defer.Deferred()

    def processEnded(self, reason):
        if self.supervisor.figures:
            self.supervisor.figures.workerEnded(self.pid)
        self.ended.callback(None)
        self.supervisor.workerEnded(self, reason.value.exitCode, reason.value.signal)


class Supervisor(Service):
    """Keeps C{count} workers running on the master's sockets."""

    def __init__(self, sockets, arguments, count, reactor, figures=None):
        """
        @param figures: the L{wss_service.metrics.SharedDirectory} the
            workers share their metrics in, if they serve metrics.
        """
        self.sockets = sockets
        self.arguments = arguments
        self.count = count
        self.reactor = reactor
        self.figures = figures
        self.workers = {}

    def startService(self):
        super().startService()
        for number in range(self.count):
            self.spawn(number)

    def spawn(self, number, failures=0):
        filenos = self.sockets.filenos()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("NOTIFY_SOCKET", "WATCHDOG_", "LISTEN_"))}
        env["LISTEN_FDS"] = str(len(filenos))
        # Twisted adopts inherited sockets only when they are all named.
        env["LISTEN_FDNAMES"] = ":".join(f"wss-{i}" for i in range(len(filenos)))
        env[WORKER_VARIABLE] = str(number)
        if self.figures:
            env.update(self.figures.environment())
        arguments = self.arguments + self.sockets.workerArguments()
        childFDs = {0: 0, 1: 1, 2: 2}
        childFDs.update({3 + i: fileno for i, fileno in enumerate(filenos)})
        worker = Worker(self, number, failures)
        self.workers[number] = worker
        launch = LAUNCH.format(master=os.getpid())
        self.reactor.spawnProcess(worker, sys.executable, [sys.executable, "-c", launch, *arguments],
                                  env=env, childFDs=childFDs)
        worker.pid = worker.transport.pid
        log.info("worker {number} started (pid {pid})", number=number, pid=worker.transport.pid)

    def workerEnded(self, worker, exitCode, signum):
        if self.workers.get(worker.number) is not worker:
            return
        del self.workers[worker.number]
        if not self.running:
            return
        # A worker that keeps dying at once is restarted ever more slowly.
        lived = self.reactor.seconds() - worker.started
        failures = 0 if lived > STABLE_SECONDS else worker.failures + 1
        delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
        log.warn("worker {number} exited (status {status}, signal {signal}); "
                 "restarting in {delay}s", number=worker.number, status=exitCode,
                 signal=signum, delay=delay)
        self.reactor.callLater(delay, self._respawn, worker.number, failures)

    def _respawn(self, number, failures):
        if self.running and number not in self.workers:
            self.spawn(number, failures)

    def signalAll(self, signum):
        for worker in list(self.workers.values()):
            worker.transport.signalProcess(signum)

    def reload(self):
        self.signalAll(signal.SIGHUP)

    def stopService(self):
        super().stopService()
        ended = [worker.ended for worker in self.workers.values()]
        self.signalAll(signal.SIGTERM)
        return defer.gatherResults(ended)


class MasterService(SignalledService):
    """The master: shared sockets and the supervised workers."""

    def __init__(self, sockets, supervisor, reactor):
        super().__init__(reactor)
        self.supervisor = supervisor
        if supervisor.figures:
            # First in, last out: removed once every worker has ended.
            supervisor.figures.setServiceParent(self)
        sockets.setServiceParent(self)
        supervisor.setServiceParent(self)

    def reload(self):
        log.info("passing SIGHUP to {count} worker(s)", count=len(self.supervisor.workers))
        self.supervisor.reload()
