"""
Signals to the real service: SIGTERM/SIGINT drain ws and wss clients with
1001 and exit 0;
SIGHUP reloads certificates without dropping anyone.
"""

import shutil
import signal
import socket
import time

from twisted.trial.unittest import TestCase

from tests.support.clients import closeCodes, connection, exchange
from tests.support.pki import PKI
from tests.support.service import Service, freePort

CLIENTS = 60


def servedCertificate(port, pki):
    context = pki.clientContext()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.getpeercert(binary_form=True)


class ShutdownTests(TestCase):
    def drain(self, signum):
        pki = PKI(self.mktemp())
        port, tlsPort = freePort(), freePort()
        service = Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                          "--endpoint", pki.endpoint(tlsPort), port=tlsPort)
        clients = [connection(f"ws://127.0.0.1:{port}/wss") for _ in range(CLIENTS // 2)]
        clients += [connection(f"wss://localhost:{tlsPort}/wss", ssl=pki.clientContext())
                    for _ in range(CLIENTS // 2)]
        for client in clients:
            client.send("tom")
            self.assertEqual(client.recv(timeout=10), "ok")
        status = service.stop(signum)
        self.assertEqual(closeCodes(clients), {1001})
        self.assertEqual(status, 0, service.log())
        self.assertIn(f"closing {CLIENTS} connection(s)", service.log())

    def test_sigtermDrains(self):
        self.drain(signal.SIGTERM)

    def test_sigintDrains(self):
        self.drain(signal.SIGINT)

    def test_sigtermAsSoonAsListening(self):
        # The port listens before the reactor runs; a signal then is graceful too.
        for _ in range(3):
            port = freePort()
            service = Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                              port=port, wait=False)
            # As soon as it listens: polled without a pause, to a deadline.
            deadline = time.monotonic() + 15
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except ConnectionRefusedError:
                    self.assertIsNone(service.process.poll(), service.log())
                    self.assertLess(time.monotonic(), deadline, "never listened")
            self.assertEqual(service.stop(signal.SIGTERM), 0, service.log())

    def test_stubbornClientsCutAfterTimeout(self):
        port = freePort()
        service = Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                          "--shutdown-timeout", "1", port=port)
        # Opens the handshake and never finishes it: dropped at shutdown.
        stuck = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(stuck.close)
        stuck.sendall(b"GET /wss HTTP/1.1\r\n")
        self.assertEqual(service.stop(signal.SIGTERM, timeout=15), 0)


class ReloadTests(TestCase):
    watch = ()

    def setUp(self):
        self.pki = PKI(self.mktemp())
        self.port = freePort()
        self.service = Service(self, "--endpoint", self.pki.endpoint(self.port), *self.watch,
                               port=self.port)
        self.url = f"wss://localhost:{self.port}/wss"

    def signal(self):
        self.service.process.send_signal(signal.SIGHUP)

    def renew(self):
        renewed = PKI(self.mktemp())
        for name in ("server.key", "fullchain.pem", "ca.pem"):
            shutil.copy(renewed.path(name), self.pki.path(name))
        self.signal()
        return renewed

    def test_sighupServesNewCertificateKeepsConnections(self):
        before = servedCertificate(self.port, self.pki)
        old = connection(self.url, ssl=self.pki.clientContext())
        renewed = self.renew()
        self.service.waitForLog("TLS reloaded")
        after = servedCertificate(self.port, renewed)
        self.assertNotEqual(before, after)
        self.assertEqual(exchange(self.url, ssl=renewed.clientContext()), "ok")
        old.send("tom")
        self.assertEqual(old.recv(timeout=10), "ok")
        old.close()

    def test_brokenFilesKeepOldCertificate(self):
        before = servedCertificate(self.port, self.pki)
        with open(self.pki.path("fullchain.pem"), "w") as f:
            f.write("not a certificate\n")
        self.signal()
        self.service.waitForLog("TLS reload failed")
        self.assertEqual(servedCertificate(self.port, self.pki), before)
        self.assertEqual(exchange(self.url, ssl=self.pki.clientContext()), "ok")
        self.assertIsNone(self.service.process.poll())
        failures = [l for l in self.service.log().splitlines() if "TLS reload failed" in l]
        self.assertEqual(len(failures), 1)
        self.assertIn("no PEM certificate", failures[0])


class WatchTests(ReloadTests):
    """The same, with --watch-certificates noticing the files instead of SIGHUP."""

    watch = ("--watch-certificates", "0.2")

    def signal(self):
        pass
