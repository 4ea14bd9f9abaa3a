"""A real redis-server on a loopback port, with its files in the test's folder."""

import os
import signal
import socket
import subprocess

from tests.support.binaries import requireBinary
from tests.support.service import freePort, stopProcess, temporaryDirectory, waitForPort


class RedisServer:
    """Started at once; stopped when the test ends. C{url} is what --redis takes."""

    def __init__(self, testCase):
        self.binary = requireBinary("redis-server")
        self.directory = temporaryDirectory(testCase)
        self.port = freePort()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self._connection = None
        self.start()
        testCase.addCleanup(self.stop)

    def start(self):
        """Start (again, empty: nothing is saved)."""
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.directory],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        waitForPort(self.port, process=self.process)

    def stop(self):
        if self.process is not None:
            self.resume()
            stopProcess(self.process)
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def pause(self):
        """SIGSTOP: Redis hangs, its connections stay open and unanswered."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.process.pid, signal.SIGCONT)

    def call(self, *command):
        """
        Run a command on one connection kept for the test (it still works
        once C{maxclients} refuses new ones); its reply, decoded.
        """
        if self._connection is None:
            self._connection = _RESP(socket.create_connection(("127.0.0.1", self.port),
                                                              timeout=10))
        return self._connection.call(*command)

    def commandCalls(self):
        """C{INFO commandstats} as C{{command: calls}}."""
        calls = {}
        for line in self.call("INFO", "commandstats").splitlines():
            if line.startswith("cmdstat_"):
                name, _, fields = line.partition(":")
                calls[name[len("cmdstat_"):]] = int(fields.split(",")[0].split("=")[1])
        return calls


class _RESP:
    """The Redis protocol, just enough for a test's commands."""

    def __init__(self, sock):
        self.sock = sock
        self.reader = sock.makefile("rb")

    def call(self, *command):
        parts = [str(c).encode() for c in command]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(
            b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        return self._reply()

    def _reply(self):
        line = self.reader.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise AssertionError(f"Redis refused: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            if int(rest) < 0:
                return None
            data = self.reader.read(int(rest) + 2)[:-2]
            return data.decode()
        if kind == b"*":
            return [self._reply() for _ in range(max(int(rest), 0))]
        raise AssertionError(f"not a Redis reply: {line!r}")

    def close(self):
        self.reader.close()
        self.sock.close()
