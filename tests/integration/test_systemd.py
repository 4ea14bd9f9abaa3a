"""
systemd integration with real processes: socket activation through
systemd-socket-activate (ws and TLS on the adopted socket), and the
notifications read from a datagram socket given as NOTIFY_SOCKET.
"""

import os
import signal
import socket

from twisted.trial.unittest import TestCase

from tests.support.binaries import requireBinary
from tests.support.clients import exchange
from tests.support.pki import PKI
from tests.support.service import (
    TWISTD, Service, environment, freePort, notifySocket, runTwistd)


def socketActivated(testCase, port, *arguments, env=None):
    activate = requireBinary("systemd-socket-activate")
    command = [activate, "-l", f"127.0.0.1:{port}", "--fdname=wss", "-E", "PYTHONPATH",
               "-E", "NOTIFY_SOCKET", "-E", "WATCHDOG_USEC",
               TWISTD, "-n", "--pidfile=", "wss"]
    return Service(testCase, *arguments, port=port, command=command, env=env)


class SocketActivationTests(TestCase):
    def test_adoptedSocket(self):
        port = freePort()
        socketActivated(self, port, "--endpoint", "systemd:domain=INET:name=wss")
        self.assertEqual(exchange(f"ws://127.0.0.1:{port}/wss"), "ok")

    def test_tlsOnAdoptedSocket(self):
        pki = PKI(self.mktemp())
        port = freePort()
        socketActivated(self, port, "--endpoint",
                        f"tls:systemd:domain=INET:index=0:privateKey={pki.path('server.key')}"
                        f":certKey={pki.path('fullchain.pem')}")
        self.assertEqual(exchange(f"wss://localhost:{port}/wss", ssl=pki.clientContext()), "ok")

    def test_noSocketHandedOver(self):
        result = runTwistd("--endpoint", "systemd:domain=INET:index=0")
        self.assertEqual(result.returncode, 1)
        self.assertIn("systemd handed over no such socket", result.stderr)
        self.assertNotIn("Traceback", result.stderr + result.stdout)


class NotifyTests(TestCase):
    def setUp(self):
        self.path, self.socket = notifySocket(self)

    def receive(self, wanted):
        """Read notifications until one holds C{wanted}; return them all."""
        seen = []
        while not any(wanted in m for m in seen):
            seen.append(self.socket.recv(4096).decode())
        return seen

    def test_readyWatchdogStopping(self):
        port, tlsPort = freePort(), freePort()
        pki = PKI(self.mktemp())
        env = environment(NOTIFY_SOCKET=self.path, WATCHDOG_USEC="200000")
        service = Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                          "--endpoint", pki.endpoint(tlsPort), env=env, wait=False)
        ready = self.receive("READY=1")[-1]
        # Ready means every endpoint already accepts connections.
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        socket.create_connection(("127.0.0.1", tlsPort), timeout=1).close()
        self.assertIn("STATUS=listening on 2 endpoint(s)", ready)
        self.receive("WATCHDOG=1")
        self.receive("WATCHDOG=1")
        service.process.send_signal(signal.SIGTERM)
        self.receive("STOPPING=1")
        self.assertEqual(service.process.wait(30), 0)

    def test_abstractSocketAddress(self):
        name = f"wss-test-{os.getpid()}-{id(self)}"
        abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        abstract.bind("\0" + name)
        abstract.settimeout(10)
        self.addCleanup(abstract.close)
        port = freePort()
        Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                env=environment(NOTIFY_SOCKET="@" + name), wait=False)
        self.assertIn("READY=1", abstract.recv(4096).decode())

    def test_socketActivatedReady(self):
        port = freePort()
        env = environment(NOTIFY_SOCKET=self.path)
        socketActivated(self, port, "--endpoint", "systemd:domain=INET:index=0", env=env)
        self.assertIn("READY=1", "".join(self.receive("READY=1")))
