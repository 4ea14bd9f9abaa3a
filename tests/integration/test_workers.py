"""
--workers: several processes share the listening sockets, supervised by a
master that passes signals on and restarts a worker that dies.
"""

import os
import shutil
import signal
import socket
import ssl
import time

from twisted.trial.unittest import TestCase

from tests.integration.test_lifecycle import servedCertificate
from tests.integration.test_operations import get
from tests.support.clients import closeCodes, connection, exchange
from tests.support.pki import PKI
from tests.support.service import Service, freePort


def running(pid):
    """Whether process C{pid} exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def portIsFree(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class WorkersTests(TestCase):
    def setUp(self):
        self.pki = PKI(self.mktemp())
        self.port, self.tlsPort = freePort(), freePort()
        self.service = Service(
            self, "--workers", "2", "--app", "tests.support.apps:PidProtocol",
            "--endpoint", f"tcp:{self.port}:interface=127.0.0.1",
            "--endpoint", self.pki.endpoint(self.tlsPort), port=self.port)
        self.url = f"ws://127.0.0.1:{self.port}/wss"
        self.service.waitForLog("worker 1 started")

    def pids(self, count=40, **options):
        url = options.pop("url", self.url)
        return {exchange(url, **options) for _ in range(count)}

    def workerPids(self):
        with open(f"/proc/{self.service.process.pid}/task/{self.service.process.pid}/children") as f:
            return {str(p) for p in f.read().split()}

    def waitForWorkers(self, count=2, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.workerPids()) == count:
                return
            time.sleep(0.1)
        raise AssertionError(f"not {count} workers: {self.workerPids()}")

    def test_linesNameTheirWorker(self):
        for number in (0, 1):
            self.service.waitForLog(f"[worker {number} wss#info] listening on ws://127.0.0.1:")
        self.assertNotIn(" object at 0x", self.service.log())

    def test_connectionsSpreadOverWorkers(self):
        self.waitForWorkers()
        pids = self.pids() | self.pids(url=f"wss://localhost:{self.tlsPort}/wss",
                                       ssl=self.pki.clientContext())
        self.assertEqual(pids, self.workerPids())

    def test_crashedWorkerRestarted(self):
        self.waitForWorkers()
        victim = sorted(self.workerPids())[0]
        os.kill(int(victim), signal.SIGKILL)
        self.service.waitForLog("restarting in")
        deadline = time.monotonic() + 20
        seen = set()
        # Until the new worker answers too (it takes a moment to start).
        while victim in self.workerPids() or seen != self.workerPids():
            self.assertLess(time.monotonic(), deadline, f"not restarted: {seen}")
            seen |= self.pids(10)
            seen &= self.workerPids()
        self.assertNotIn(victim, seen)

    def test_sigtermDrainsEveryWorker(self):
        self.waitForWorkers()
        clients = [connection(self.url) for _ in range(30)]
        for client in clients:
            client.send("tom")
            client.recv(timeout=10)
        workers = self.workerPids()
        self.assertEqual(self.service.stop(signal.SIGTERM), 0, self.service.log())
        self.assertEqual(closeCodes(clients), {1001})
        for pid in workers:
            self.assertFalse(os.path.exists(f"/proc/{pid}"), f"worker {pid} outlived the master")

    def test_workersEndWithAKilledMaster(self):
        self.waitForWorkers()
        workers = self.workerPids()
        self.service.process.kill()
        self.service.process.wait()
        deadline = time.monotonic() + 15
        while any(running(pid) for pid in workers):
            self.assertLess(time.monotonic(), deadline, "workers outlived a killed master")
            time.sleep(0.1)
        self.assertTrue(portIsFree(self.port), "the port is free again")

    def test_sighupReloadsEveryWorker(self):
        # Sent while the workers may still be starting: none may die of it.
        before = servedCertificate(self.tlsPort, self.pki)
        renewed = PKI(self.mktemp())
        for name in ("server.key", "fullchain.pem"):
            shutil.copy(renewed.path(name), self.pki.path(name))
        self.service.process.send_signal(signal.SIGHUP)
        self.waitForWorkers()
        deadline = time.monotonic() + 15
        inARow = 0
        # Every worker serves the new certificate: 20 handshakes in a row.
        while inARow < 20:
            self.assertLess(time.monotonic(), deadline, self.service.log())
            try:
                self.assertNotEqual(servedCertificate(self.tlsPort, renewed), before)
                inARow += 1
            except ssl.SSLError:
                inARow = 0
        self.assertNotIn("exited", self.service.log())


def figures(text):
    """The samples of a Prometheus text page: C{{name{labels}: value}}."""
    return {k: float(v) for k, v in (l.rsplit(" ", 1) for l in text.splitlines()
                                     if l and not l.startswith("#"))}


class WorkerMetricsTests(TestCase):
    def setUp(self):
        self.port, self.metricsPort = freePort(), freePort()
        self.service = Service(
            self, "--workers", "2", "--app", "tests.support.apps:PidProtocol",
            "--endpoint", f"tcp:{self.port}:interface=127.0.0.1",
            "--metrics-endpoint", f"tcp:{self.metricsPort}:interface=127.0.0.1", port=self.port)
        self.url = f"ws://127.0.0.1:{self.port}/wss"

    def scrapes(self, wanted, timeout=15):
        """Scrape until every scrape of a round of 10 shows C{wanted}; the last scrape."""
        deadline = time.monotonic() + timeout
        while True:
            seen = [figures(get(f"http://127.0.0.1:{self.metricsPort}/metrics")[1])
                    for _ in range(10)]
            if all(all(page.get(k) == v for k, v in wanted.items()) for page in seen):
                return seen[-1]
            self.assertLess(time.monotonic(), deadline, f"never {wanted}: {seen[-1]}")
            time.sleep(0.2)

    def test_scrapeSeesEveryWorker(self):
        held, pids = [], set()
        while len(pids) < 2 or len(held) < 6:
            client = connection(self.url)
            client.send("tom")
            pids.add(client.recv(timeout=10))
            held.append(client)
        for _ in range(4):
            exchange(self.url)
        opened = len(held) + 4
        page = self.scrapes({"wss_connections": len(held),
                             "wss_connections_accepted_total": opened,
                             "wss_messages_received_total": opened})
        perWorker = {k: v for k, v in page.items() if k.startswith("wss_worker_connections{")}
        self.assertEqual({k.split('pid="')[1].split('"')[0] for k in perWorker}, pids)
        self.assertEqual(sum(perWorker.values()), len(held))

        # A worker killed: what it counted stays, its open connections go.
        victim = sorted(pids)[0]
        lost = 0
        for client in held:
            client.send("tom")
            lost += client.recv(timeout=10) == victim
        # Once its figures were shared (a worker shares them every 2 s).
        counted = {"wss_connections_accepted_total": opened,
                   "wss_messages_received_total": opened + len(held)}
        self.scrapes(counted)
        os.kill(int(victim), signal.SIGKILL)
        self.service.waitForLog("restarting in")
        page = self.scrapes({"wss_connections": len(held) - lost, **counted})
        self.assertNotIn(f'wss_worker_connections{{pid="{victim}"}}', page)
        for client in held:
            client.close()
