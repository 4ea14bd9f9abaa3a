"""
Operations against the real service: metrics and health over HTTP, JSON
logs, and the limits that keep one client from hurting the others.
"""

import json
import signal
import socket
import time
import urllib.request

from twisted.trial.unittest import TestCase

from tests.support.clients import connection, exchange
from tests.support.handshake import clientFrame, request
from tests.support.pki import PKI
from tests.support.service import Service, freePort


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def handshakeStatus(port, source="127.0.0.1"):
    with socket.create_connection(("127.0.0.1", port), timeout=10,
                                  source_address=(source, 0)) as s:
        s.sendall(request())
        return s.recv(4096).split(b"\r\n", 1)[0]


class MetricsTests(TestCase):
    def test_metricsAndHealth(self):
        pki = PKI(self.mktemp())
        port, metricsPort = freePort(), freePort()
        Service(self, "--endpoint", pki.endpoint(port),
                "--metrics-endpoint", f"tcp:{metricsPort}:interface=127.0.0.1", port=port)
        url = f"wss://localhost:{port}/wss"
        for _ in range(3):
            self.assertEqual(exchange(url, ssl=pki.clientContext()), "ok")
        with connection(url, ssl=pki.clientContext()) as live:
            live.send("tom")
            live.recv(timeout=10)
            status, text = get(f"http://127.0.0.1:{metricsPort}/metrics")
        self.assertEqual(status, 200)
        lines = dict(l.rsplit(" ", 1) for l in text.splitlines() if not l.startswith("#"))
        self.assertEqual(float(lines["wss_connections"]), 1)
        self.assertEqual(float(lines["wss_connections_accepted_total"]), 4)
        self.assertEqual(float(lines["wss_messages_received_total"]), 4)
        self.assertEqual(float(lines['wss_closes_total{code="1000"}']), 3)
        self.assertGreater(float(lines["wss_bytes_sent_total"]), 0)
        expiry = [k for k in lines if k.startswith("wss_certificate_expiry_timestamp_seconds{")]
        self.assertEqual(len(expiry), 1)
        self.assertEqual(float(lines[expiry[0]]), pki.leaf.not_valid_after_utc.timestamp())
        self.assertEqual(get(f"http://127.0.0.1:{metricsPort}/healthz"), (200, "ok\n"))


    def test_healthStopsBeforeConnectionsAreGone(self):
        port, metricsPort = freePort(), freePort()
        service = Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                          "--metrics-endpoint", f"tcp:{metricsPort}:interface=127.0.0.1",
                          "--shutdown-timeout", "5", port=port)
        # Open, then never answers the close frame: the drain waits for it.
        stubborn = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(stubborn.close)
        stubborn.sendall(request())
        self.assertTrue(stubborn.recv(4096).startswith(b"HTTP/1.1 101 "))
        service.process.send_signal(signal.SIGTERM)
        service.waitForLog("closing 1 connection(s)")
        self.assertEqual(get(f"http://127.0.0.1:{metricsPort}/healthz"), (503, "stopping\n"))
        self.assertEqual(service.process.wait(30), 0)


class JSONLogTests(TestCase):
    def test_oneObjectPerLine(self):
        port = freePort()
        service = Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                          "--log-format", "json", port=port)
        exchange(f"ws://127.0.0.1:{port}/wss", headers={"X-Real-IP": "198.51.100.7"})
        service.waitForLog('"close 198.51.100.7')
        records = [json.loads(line) for line in service.log().splitlines()]
        opened = next(r for r in records if r["message"].startswith("open "))
        self.assertEqual(opened["client"], "198.51.100.7")
        self.assertEqual(opened["path"], "/wss")
        self.assertEqual(opened["level"], "info")
        self.assertIn("time", opened)


class LimitTests(TestCase):
    def test_floodFromOneAddress(self):
        port = freePort()
        Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                "--max-connections-per-ip", "5", "--trusted-proxy", "127.0.0.1/32", port=port)
        url = f"ws://127.0.0.1:{port}/wss"
        flood = [connection(url, source="127.0.0.3") for _ in range(5)]
        self.addCleanup(lambda: [c.close() for c in flood])
        self.assertEqual(handshakeStatus(port, "127.0.0.3"), b"HTTP/1.1 429 Too Many Requests")
        self.assertEqual(exchange(url, source="127.0.0.4"), "ok")

    def test_maxConnections(self):
        port = freePort()
        Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                "--max-connections", "2", port=port)
        url = f"ws://127.0.0.1:{port}/wss"
        held = [connection(url) for _ in range(2)]
        self.addCleanup(lambda: [c.close() for c in held])
        self.assertEqual(handshakeStatus(port), b"HTTP/1.1 503 Service Unavailable")

    def test_slowReaderCutOthersServed(self):
        port = freePort()
        service = Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                          "--app", "wss_service.apps:EchoProtocol", "--send-timeout", "1",
                          "--max-message-size", "0", "--max-frame-size", "0", port=port)
        reader = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(reader.close)
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.sendall(request())
        reader.recv(4096)
        frame = clientFrame(b"x" * 256 * 1024, opcode=0x2)
        deadline = time.monotonic() + 20
        cut = False
        # Echoes pile up on the server; this client never reads them.
        while time.monotonic() < deadline and not cut:
            try:
                reader.sendall(frame)
            except OSError:
                cut = True
        self.assertTrue(cut, "the server never cut a client that does not read")
        service.waitForLog("read nothing for 1.0s")
        self.assertEqual(exchange(f"ws://127.0.0.1:{port}/wss"), "tom")

    def test_plainHttpGets426(self):
        port = freePort()
        Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1", port=port)
        status, body = get(f"http://127.0.0.1:{port}/wss")
        self.assertEqual(status, 426)
        self.assertIn("Upgrade", body)
