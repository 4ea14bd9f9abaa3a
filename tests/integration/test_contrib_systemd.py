"""
contrib/systemd/wss.service: systemd accepts it, and its ExecStart lines
(proxied and direct) run the real service.
"""

import os
import shlex
import shutil
import subprocess

from twisted.trial.unittest import TestCase

from tests.support.binaries import requireBinary
from tests.support.clients import exchange
from tests.support.pki import PKI
from tests.support.proxies import render
from tests.support.service import TWISTD, Service, freePort

INSTALLED = "/opt/wss-service/.venv/bin/twistd"


def unit():
    return render("systemd/wss.service", {INSTALLED: TWISTD})


def settings(text):
    found = {}
    for line in text.splitlines():
        key, equals, value = line.partition("=")
        if equals and not line.startswith("#"):
            found.setdefault(key.strip(), []).append(value.strip())
    return found


class UnitTests(TestCase):
    def test_systemdAcceptsIt(self):
        analyze = requireBinary("systemd-analyze")
        path = os.path.join(os.path.abspath(self.mktemp()), "wss.service")
        os.makedirs(os.path.dirname(path))
        with open(path, "w") as f:
            f.write(unit())
        result = subprocess.run([analyze, "verify", "--man=no", path],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual((result.returncode, result.stderr.strip()), (0, ""))

    def test_restartAndSandbox(self):
        found = settings(unit())
        self.assertEqual(found["Restart"], ["on-failure"])
        for key in ("DynamicUser", "NoNewPrivileges", "ProtectSystem", "PrivateTmp",
                    "RestrictAddressFamilies", "SystemCallFilter", "CapabilityBoundingSet"):
            self.assertIn(key, found)
        command = found["ExecStart"][0]
        self.assertIn(" -n --pidfile= wss", command)

    def test_proxiedExecStartServes(self):
        port = freePort()
        command = shlex.split(settings(unit())["ExecStart"][0])
        Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1", port=port,
                command=command)
        self.assertEqual(exchange(f"ws://127.0.0.1:{port}/wss"), "ok")

    def test_directExecStartServes(self):
        pki = PKI(self.mktemp())
        credentials = os.path.abspath(self.mktemp())
        os.makedirs(credentials)
        shutil.copy(pki.path("server.key"), os.path.join(credentials, "privkey.pem"))
        shutil.copy(pki.path("fullchain.pem"), os.path.join(credentials, "fullchain.pem"))
        port = freePort()
        line = next(l for l in unit().splitlines() if l.startswith("#ExecStart="))
        line = line.replace("#ExecStart=", "").replace("%d", credentials)
        line = line.replace("ssl:443:", f"ssl:{port}:interface=127.0.0.1:")
        Service(self, port=port, command=shlex.split(line))
        self.assertEqual(
            exchange(f"wss://localhost:{port}/wss", ssl=pki.clientContext()), "ok")
