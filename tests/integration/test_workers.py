"""
--workers: several processes share the listening sockets, supervised by a
master that passes signals on and restarts a worker that dies.
"""

import os
import shutil
import signal
import ssl
import time

from twisted.trial.unittest import TestCase

from tests.integration.test_lifecycle import servedCertificate
from tests.integration.test_operations import get
from tests.support.clients import closeCodes, connection, exchange
from tests.support.pki import PKI
from tests.support.service import Service, _running as running, freePort, portIsFree


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

    def waitForWorkers(self):
        """Both workers listening on both endpoints: their pids, as the app answers them."""
        return {str(pid) for pid in self.service.workers(2, endpoints=2).values()}

    def servedBy(self, pid, **options):
        """The pids that answer connections made while only worker C{pid} accepts."""
        with self.service.onlyWorker(int(pid)):
            return self.pids(5, **options)

    def test_linesNameTheirWorker(self):
        for number in (0, 1):
            self.service.waitForLog(f"[worker {number} wss#info] listening on ws://127.0.0.1:")
        self.assertNotIn(" object at 0x", self.service.log())

    def test_everyWorkerServesEveryEndpoint(self):
        # Which worker the kernel hands a connection to depends on the
        # machine's load; what the service promises is that each serves.
        for pid in self.waitForWorkers():
            self.assertEqual(self.servedBy(pid), {pid})
            self.assertEqual(self.servedBy(pid, url=f"wss://localhost:{self.tlsPort}/wss",
                                           ssl=self.pki.clientContext()), {pid})

    def test_crashedWorkerRestarted(self):
        victim = sorted(self.waitForWorkers())[0]
        os.kill(int(victim), signal.SIGKILL)
        self.service.waitForLog("restarting in")
        # A killed worker no longer counts as ready: this waits for its successor to listen.
        workers = self.waitForWorkers()
        self.assertNotIn(victim, workers)
        for pid in workers:
            self.assertEqual(self.servedBy(pid), {pid})

    def test_sigtermDrainsEveryWorker(self):
        self.waitForWorkers()
        clients = [connection(self.url) for _ in range(30)]
        for client in clients:
            client.send("tom")
            client.recv(timeout=10)
        workers = self.service.children()
        self.assertEqual(self.service.stop(signal.SIGTERM), 0, self.service.log())
        self.assertEqual(closeCodes(clients), {1001})
        for pid in workers:
            self.assertFalse(os.path.exists(f"/proc/{pid}"), f"worker {pid} outlived the master")

    def test_workersEndWithAKilledMaster(self):
        workers = self.waitForWorkers()
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
        for pid in self.waitForWorkers():
            # Each worker, alone: it serves the new certificate once it has read it.
            deadline = time.monotonic() + 15
            with self.service.onlyWorker(int(pid)):
                while True:
                    try:
                        self.assertNotEqual(servedCertificate(self.tlsPort, renewed), before)
                        break
                    except ssl.SSLError:
                        self.assertLess(time.monotonic(), deadline, self.service.log())
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
        for pid in self.service.workers(2, endpoints=2).values():
            with self.service.onlyWorker(pid):
                for _ in range(3):
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
