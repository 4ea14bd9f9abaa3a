"""Run the real service, C{twistd -n wss ...}, in a subprocess."""

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")


def _ephemeralPorts():
    """The range the kernel takes outgoing connections' source ports from."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = map(int, f.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


_handedOut = set()


def portIsFree(port, host="127.0.0.1"):
    """Whether nothing is bound to C{port} on C{host}."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def freePort(host="127.0.0.1", attempts=1000):
    """
    A port nothing listens on, for a server the test starts next. It lies
    below the ephemeral range: a port from that range (what binding port 0
    gives) can be taken as the source port of any outgoing connection before
    the server binds it. It is never one this process handed out before:
    a test that asks for two ports before starting its servers would
    otherwise now and then get the same port twice.
    """
    low, _ = _ephemeralPorts()
    for _ in range(attempts):
        port = random.randrange(10000, low)
        if port in _handedOut or not portIsFree(port, host):
            continue
        _handedOut.add(port)
        return port
    raise AssertionError(f"no free port below {low} on {host}")


def _running(pid):
    """Whether process C{pid} exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def environment(**extra):
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def waitForPort(port, host="127.0.0.1", timeout=15.0, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode} before listening")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on {host}:{port} after {timeout}s")


def stopProcess(process, timeout=10):
    """Terminate a process, and kill it if it does not end in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def temporaryDirectory(testCase):
    directory = os.path.abspath(testCase.mktemp())
    os.makedirs(directory)
    return directory


def shortDirectory(testCase, prefix):
    """
    A directory under the system's temporary one, removed after the test:
    for sockets, since trial's temporary paths can exceed the 108 bytes an
    C{AF_UNIX} address may hold.
    """
    directory = tempfile.mkdtemp(prefix=prefix)
    testCase.addCleanup(shutil.rmtree, directory, True)
    return directory


def notifySocket(testCase):
    """A datagram socket to give the service as NOTIFY_SOCKET: C{(path, socket)}."""
    path = os.path.join(shortDirectory(testCase, "wss-notify-"), "notify")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.settimeout(15)
    testCase.addCleanup(receiver.close)
    return path, receiver


def runTwistd(*arguments, timeout=30, env=None):
    """Run C{twistd -n --pidfile= wss ARGUMENTS} to its end (for bad input)."""
    return subprocess.run(
        [TWISTD, "-n", "--pidfile=", "wss", *arguments],
        capture_output=True, text=True, timeout=timeout, env=env or environment(),
        stdin=subprocess.DEVNULL,
    )


class Service:
    """
    One running C{twistd -n wss} process, stopped when the test ends.

    The test case's C{serviceArguments} (a tuple, if it has one) come first
    among the options: a subclass can run a whole test class again with, say,
    C{--no-fast-paths}.

    @ivar port: the port of its first endpoint, if it was given one.
    """

    def __init__(self, testCase, *arguments, port=None, env=None, wait=True, command=None):
        self.logPath = os.path.abspath(testCase.mktemp())
        self._log = open(self.logPath, "w")
        self.port = port
        command = command or [TWISTD, "-n", "--pidfile=", "wss"]
        arguments = (*getattr(testCase, "serviceArguments", ()), *arguments)
        self.process = subprocess.Popen(
            [*command, *arguments],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env or environment(), cwd=REPO, pass_fds=getattr(testCase, "passFds", ()),
        )
        testCase.addCleanup(self.kill)
        if wait and port is not None:
            try:
                waitForPort(port, process=self.process)
            except AssertionError as e:
                raise AssertionError(f"{e}; its log:\n{self.log()}") from None

    def log(self):
        with open(self.logPath) as f:
            return f.read()

    def waitForLog(self, text, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in the service log:\n{self.log()}")

    def workers(self, count, endpoints=1, after="", timeout=15.0):
        """
        Wait until C{count} workers (C{--workers}) each listen on all
        C{endpoints}, and have logged C{after} (e.g. C{"hub on Redis at"})
        since they started; C{{number: pid}} of the ones running now.

        Only a worker that listens serves: a worker that merely exists may
        still be starting while the other takes every connection.
        """
        deadline = time.monotonic() + timeout
        while True:
            ready = self._readyWorkers(endpoints, after)
            if len(ready) >= count:
                return ready
            if time.monotonic() > deadline:
                raise AssertionError(f"not {count} workers listening after {timeout}s "
                                     f"(ready: {ready}); the log:\n{self.log()}")
            time.sleep(0.05)

    def _readyWorkers(self, endpoints, after):
        log = self.log()
        ready = {}
        for started in re.finditer(r"worker (\d+) started \(pid (\d+)\)", log):
            number, pid = int(started[1]), int(started[2])
            ready.pop(number, None)
            tail = log[started.end():]
            own = f"[worker {number} wss#info] "
            lines = [l.split(own, 1)[1] for l in tail.splitlines() if own in l]
            if (sum(l.startswith("listening on ") for l in lines) >= endpoints
                    and any(l.startswith(after) for l in lines) and _running(pid)):
                ready[number] = pid
        return ready

    def children(self):
        """The pids of the processes this one started (the workers)."""
        pid = self.process.pid
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return {int(p) for p in f.read().split()}

    @contextlib.contextmanager
    def onlyWorker(self, pid):
        """
        Within the block, new connections go to worker C{pid}: the others
        are paused (SIGSTOP), so only it accepts. Which worker the kernel
        hands a connection to otherwise depends on the machine's load.
        """
        others = [p for p in self.children() if p != pid]
        for other in others:
            os.kill(other, signal.SIGSTOP)
        try:
            yield
        finally:
            for other in others:
                os.kill(other, signal.SIGCONT)

    def stop(self, signum=signal.SIGTERM, timeout=30):
        """Signal the service and wait for it to exit; returns the exit status."""
        self.process.send_signal(signum)
        return self.process.wait(timeout)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()
