"""
contrib/systemd: systemd accepts wss.socket and wss.service, and the
service's ExecStart lines (proxied and direct) serve on the socket that
wss.socket describes, reporting READY=1 as Type=notify needs.
"""

import os
import shlex
import shutil
import subprocess

from twisted.trial.unittest import TestCase

from tests.support.binaries import requireBinary
from tests.support.clients import exchange
from tests.support.pki import PKI
from tests.support.contrib import render
from tests.support.service import (
    TWISTD, Service, environment, freePort, notifySocket, temporaryDirectory)

INSTALLED = "/opt/wss-service/.venv/bin/twistd"


def settings(text):
    found = {}
    for line in text.splitlines():
        key, equals, value = line.partition("=")
        if equals and not line.startswith("#"):
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def service():
    return render("systemd/wss.service", {INSTALLED: TWISTD})


class UnitTests(TestCase):
    def test_systemdAcceptsThem(self):
        analyze = requireBinary("systemd-analyze")
        directory = temporaryDirectory(self)
        for name, text in [("wss.service", service()),
                           ("wss.socket", render("systemd/wss.socket", {}))]:
            with open(os.path.join(directory, name), "w") as f:
                f.write(text)
        result = subprocess.run(
            [analyze, "verify", "--man=no", f"{directory}/wss.socket", f"{directory}/wss.service"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual((result.returncode, result.stderr.strip()), (0, ""))

    def test_restartNotifyReloadSandbox(self):
        found = settings(service())
        self.assertEqual(found["Restart"], ["on-failure"])
        self.assertEqual(found["Type"], ["notify"])
        self.assertIn("WatchdogSec", found)
        self.assertEqual(found["ExecReload"], ["/bin/kill -HUP $MAINPID"])
        for key in ("DynamicUser", "NoNewPrivileges", "ProtectSystem", "PrivateTmp",
                    "RestrictAddressFamilies", "SystemCallFilter", "CapabilityBoundingSet"):
            self.assertIn(key, found)
        self.assertIn(" -n --pidfile= wss", found["ExecStart"][0])
        socketUnit = settings(render("systemd/wss.socket", {}))
        self.assertEqual(socketUnit["ListenStream"], ["127.0.0.1:8282"])
        self.assertEqual(socketUnit["FileDescriptorName"], ["wss"])


class ExecStartTests(TestCase):
    def setUp(self):
        self.notify, self.socket = notifySocket(self)

    def serve(self, execStart, port):
        """Run an ExecStart line on a socket as wss.socket hands it over."""
        activate = requireBinary("systemd-socket-activate")
        command = [activate, "-l", f"127.0.0.1:{port}", "--fdname=wss",
                   "-E", "PYTHONPATH", "-E", "NOTIFY_SOCKET", *shlex.split(execStart)]
        Service(self, port=port, command=command, env=environment(NOTIFY_SOCKET=self.notify))
        self.assertIn("READY=1", self.socket.recv(4096).decode())

    def test_proxied(self):
        port = freePort()
        self.serve(settings(service())["ExecStart"][0], port)
        self.assertEqual(exchange(f"ws://127.0.0.1:{port}/wss"), "ok")

    def test_direct(self):
        pki = PKI(self.mktemp())
        credentials = temporaryDirectory(self)
        shutil.copy(pki.path("server.key"), os.path.join(credentials, "privkey.pem"))
        shutil.copy(pki.path("fullchain.pem"), os.path.join(credentials, "fullchain.pem"))
        line = next(l for l in service().splitlines() if l.startswith("#ExecStart="))
        port = freePort()
        self.serve(line.replace("#ExecStart=", "").replace("%d", credentials), port)
        self.assertEqual(
            exchange(f"wss://localhost:{port}/wss", ssl=pki.clientContext()), "ok")
