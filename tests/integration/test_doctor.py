"""
wss-doctor against each broken deployment, built for real on loopback, and
against healthy ones: it names what is wrong, and nothing in a healthy one.
"""

import json
import os
import subprocess
import sys

from twisted.trial.unittest import TestCase

from tests.integration.test_direct import PERMISSIVE_OPENSSL_CONF
from tests.support import proxies
from tests.support.binaries import requireBinary
from tests.support.pki import PKI
from tests.support.service import REPO, Service, environment, freePort, stopProcess, waitForPort

DOCTOR = os.path.join(os.path.dirname(sys.executable), "wss-doctor")


def doctor(*arguments):
    """Run the doctor (installed script, else the module) with --json: (status, checks)."""
    command = [DOCTOR] if os.path.exists(DOCTOR) else [sys.executable, "-m", "wss_service.doctor"]
    result = subprocess.run([*command, *arguments, "--json", "--timeout", "5"],
                            capture_output=True, text=True, timeout=120, cwd=REPO,
                            env=environment(), stdin=subprocess.DEVNULL)
    report = json.loads(result.stdout)
    return result.returncode, {c["check"]: c for c in report["checks"]}


class DoctorMixin:
    def setUp(self):
        self.pki = PKI(self.mktemp())
        self.ca = ("--ca", self.pki.path("ca.pem"))

    def serve(self, *arguments, pki=None, certKey="fullchain.pem"):
        """The service with ws and wss endpoints: C{(wsPort, wssPort)}."""
        pki = pki or self.pki
        port, tlsPort = freePort(), freePort()
        Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                "--endpoint", pki.endpoint(tlsPort, certKey=certKey), "--path", "/wss",
                *arguments, port=tlsPort)
        return port, tlsPort

    def assertFinds(self, report, check, *fragments, status="FAIL"):
        found = report[check]
        self.assertEqual(found["status"], status, found)
        text = f"{found['seen']} {found['fix']}"
        for fragment in fragments:
            self.assertIn(fragment, text)


class HealthyTests(DoctorMixin, TestCase):
    def test_direct(self):
        _, tlsPort = self.serve()
        status, report = doctor(f"wss://localhost:{tlsPort}/wss", *self.ca, "--send", "tom")
        self.assertEqual(status, 0, report)
        for check in ("dns", "tcp", "tls", "versions", "certificate", "chain", "upgrade",
                      "roundtrip"):
            self.assertEqual(report[check]["status"], "ok", report[check])
        self.assertIn("got 'ok'", report["roundtrip"]["seen"])
        self.assertFinds(report, "url", "certificates name domains", status="warn")
        # localhost is no domain for WeChat, the one thing it lacks here.
        status, report = doctor(f"wss://localhost:{tlsPort}/wss", *self.ca, "--wechat")
        self.assertEqual(status, 1)
        self.assertEqual(report["wechat"]["seen"],
                         "WeChat needs a domain, not an IP or localhost: see above")

    def proxied(self, proxy):
        backend, port = freePort(), freePort()
        Service(self, "--endpoint", f"tcp:{backend}:interface=127.0.0.1", port=backend)
        proxy(self, port, backend, self.pki)
        status, report = doctor(f"wss://localhost:{port}/wss", *self.ca, "--send", "tom")
        self.assertEqual(status, 0, report)
        self.assertEqual(report["versions"]["seen"], "offers TLS 1.2, TLS 1.3")
        self.assertIn("got 'ok'", report["roundtrip"]["seen"])

    def test_nginx(self):
        self.proxied(proxies.nginx)

    def test_apache(self):
        self.proxied(proxies.apache)

    def test_plainWs(self):
        port, _ = self.serve()
        status, report = doctor(f"ws://127.0.0.1:{port}/wss")
        self.assertEqual(status, 0, report)
        self.assertFinds(report, "url", "browsers block it on https pages", status="warn")
        self.assertNotIn("certificate", report)


class BrokenTests(DoctorMixin, TestCase):
    def test_closedPort(self):
        status, report = doctor(f"wss://localhost:{freePort()}/wss")
        self.assertEqual(status, 1)
        self.assertFinds(report, "tcp", "connection refused, nothing listens")
        self.assertEqual(report["upgrade"]["status"], "skip")

    def test_plainWsBehindWssURL(self):
        port, _ = self.serve()
        status, report = doctor(f"wss://localhost:{port}/wss")
        self.assertEqual(status, 1)
        self.assertFinds(report, "tls", "answers plain HTTP", "speaks ws, not wss",
                         f"use ws://localhost:{port}/wss")

    def test_wssBehindWsURL(self):
        _, tlsPort = self.serve()
        status, report = doctor(f"ws://localhost:{tlsPort}/wss")
        self.assertEqual(status, 1)
        self.assertFinds(report, "tls", "speaks TLS", f"use wss://localhost:{tlsPort}/wss")

    def test_leafOnly(self):
        _, tlsPort = self.serve(certKey="leaf.pem")
        status, report = doctor(f"wss://localhost:{tlsPort}/wss", *self.ca)
        self.assertEqual(status, 1)
        self.assertFinds(report, "chain", "sends only its own certificate", "fullchain.pem",
                         "extraCertChain=")
        self.assertEqual(report["certificate"]["status"], "ok")

    def test_expired(self):
        pki = PKI(self.mktemp(), expired=True)
        _, tlsPort = self.serve(pki=pki)
        status, report = doctor(f"wss://localhost:{tlsPort}/wss", "--ca", pki.path("ca.pem"))
        self.assertEqual(status, 1)
        self.assertFinds(report, "certificate", "expired", "certbot renew")

    def test_otherName(self):
        pki = PKI(self.mktemp(), hosts=("other.example",))
        _, tlsPort = self.serve(pki=pki)
        status, report = doctor(f"wss://localhost:{tlsPort}/wss", "--ca", pki.path("ca.pem"))
        self.assertEqual(status, 1)
        self.assertFinds(report, "certificate", "for other.example", "not for localhost")

    def test_untrusted(self):
        _, tlsPort = self.serve()
        status, report = doctor(f"wss://localhost:{tlsPort}/wss")
        self.assertEqual(status, 1)
        self.assertFinds(report, "chain", "trust store does not hold", "--ca")

    def test_onlyOldTLS(self):
        openssl = requireBinary("openssl")
        port = freePort()
        permissive = os.path.abspath(self.mktemp())
        with open(permissive, "w") as f:
            f.write(PERMISSIVE_OPENSSL_CONF)
        server = subprocess.Popen(
            [openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-www", "-tls1_1",
             "-cipher", "ALL:@SECLEVEL=0", "-cert", self.pki.path("fullchain.pem"),
             "-key", self.pki.path("server.key")],
            env=dict(os.environ, OPENSSL_CONF=permissive), stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(stopProcess, server)
        waitForPort(port, process=server)
        status, report = doctor(f"wss://localhost:{port}/wss", *self.ca, "--wechat")
        self.assertEqual(status, 1)
        self.assertFinds(report, "versions", "offers TLS 1.1", "no TLS 1.2", "ssl_protocols")
        self.assertFinds(report, "wechat", "TLS 1.2")

    def test_wrongPath(self):
        _, tlsPort = self.serve()
        status, report = doctor(f"wss://localhost:{tlsPort}/ws", *self.ca)
        self.assertEqual(status, 1)
        self.assertFinds(report, "upgrade", "404", "--path")

    def test_refusedOrigin(self):
        _, tlsPort = self.serve("--allowed-origin", "https://example.com")
        url = f"wss://localhost:{tlsPort}/wss"
        status, report = doctor(url, *self.ca, "--origin", "https://evil.example")
        self.assertEqual(status, 1)
        self.assertFinds(report, "upgrade", "403", "--allowed-origin", "https://evil.example")
        self.assertEqual(doctor(url, *self.ca, "--origin", "https://example.com")[0], 0)

    def test_nginxWithoutUpgradeHeaders(self):
        backend, port = freePort(), freePort()
        Service(self, "--endpoint", f"tcp:{backend}:interface=127.0.0.1", port=backend)
        proxies.nginx(self, port, backend, self.pki, edits={
            "proxy_http_version 1.1;": "",
            "proxy_set_header Upgrade $http_upgrade;": "",
            "proxy_set_header Connection $connection_upgrade;": ""})
        status, report = doctor(f"wss://localhost:{port}/wss", *self.ca)
        self.assertEqual(status, 1)
        self.assertFinds(report, "upgrade", "proxy_http_version 1.1",
                         "proxy_set_header Upgrade")

    def test_nginxShortReadTimeout(self):
        backend, port = freePort(), freePort()
        Service(self, "--endpoint", f"tcp:{backend}:interface=127.0.0.1", port=backend)
        proxies.nginx(self, port, backend, self.pki,
                      edits={"proxy_read_timeout 3600s;": "proxy_read_timeout 2s;"})
        status, report = doctor(f"wss://localhost:{port}/wss", *self.ca, "--idle", "6")
        self.assertEqual(status, 1)
        self.assertFinds(report, "idle", "without a close frame", "proxy_read_timeout")
        seen = report["idle"]["seen"]
        after = float(seen.split("cut after ")[1].split("s")[0])
        self.assertTrue(1.5 <= after < 6, seen)

    def test_idleSurvives(self):
        _, tlsPort = self.serve("--ping-interval", "1")
        status, report = doctor(f"wss://localhost:{tlsPort}/wss", *self.ca, "--idle", "2.5")
        self.assertEqual(status, 0, report)
        self.assertEqual(report["idle"]["status"], "ok")


class UsageTests(TestCase):
    def run_(self, *arguments):
        return subprocess.run([sys.executable, "-m", "wss_service.doctor", *arguments],
                              capture_output=True, text=True, timeout=60, cwd=REPO,
                              env=environment(), stdin=subprocess.DEVNULL)

    def test_usageErrorsExit2(self):
        for arguments in (["https://example.com"], ["wss://"], ["wss://x:port/"],
                          ["wss://example.com", "--idle", "-1"], ["wss://x", "--ca", "/nope"]):
            result = self.run_(*arguments)
            self.assertEqual(result.returncode, 2, (arguments, result.stderr))
            self.assertNotIn("Traceback", result.stderr)
            self.assertEqual(len(result.stderr.strip().splitlines()[-1:]), 1)
