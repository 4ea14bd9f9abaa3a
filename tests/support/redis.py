"""A real redis-server on a loopback port, with its files in the test's folder."""

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
            stopProcess(self.process)
