"""
Abuse against the real service: each bad client is closed, everyone else
keeps being served, and the service's memory stays bounded.
"""

import socket
import ssl
import struct
import time
import zlib

from twisted.trial.unittest import TestCase

from tests.support.clients import connection, exchange, rawHead
from tests.support.handshake import clientFrame, closeCode, request
from tests.support.pki import PKI
from tests.support.service import Service, freePort

MiB = 1024 * 1024


def rss(process):
    with open(f"/proc/{process.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024


def readAll(sock, timeout=15):
    """Read until the server closes; return what it sent."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    return data


class AbuseTests(TestCase):
    extra = ()

    def setUp(self):
        self.port = freePort()
        self.service = Service(self, "--endpoint", f"tcp:{self.port}:interface=127.0.0.1",
                               "--handshake-timeout", "2", *self.extra, port=self.port)
        self.url = f"ws://127.0.0.1:{self.port}/wss"
        self.bystander = connection(self.url)
        self.addCleanup(self.bystander.close)
        self.baseline = rss(self.service.process)
        # Cleanups run last-in first-out, so this runs while all is still up.
        self.addCleanup(self.assertOthersUnhurt)

    def assertOthersUnhurt(self):
        self.bystander.send("tom")
        self.assertEqual(self.bystander.recv(timeout=10), "ok", "a bystander was hurt")
        self.assertEqual(exchange(self.url), "ok")
        growth = rss(self.service.process) - self.baseline
        self.assertLess(growth, 32 * MiB, f"memory grew by {growth} bytes")

    def raw(self, data=b""):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.addCleanup(sock.close)
        if data:
            sock.sendall(data)
        return sock

    def opened(self, extra=b""):
        sock = self.raw(request().rstrip(b"\r\n") + extra + b"\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
        return sock

    def test_malformedHeadsRefused(self):
        for lines in [[b"X-Note: a\x0bX-Forwarded-For: 203.0.113.77"],
                      [b"X-Note: a\x85X-Real-IP: 203.0.113.77"],
                      [b"X-Note: a\rX-Real-IP: 203.0.113.77"],
                      [b"X-Note: a", b" X-Real-IP: 203.0.113.77"],
                      [b"X-Note a"], [b"X Note: a"], [b"X-Note: a\x00"]]:
            head = rawHead(self.port, lines)
            self.assertTrue(head.startswith(b"HTTP/1.1 400 Bad Request\r\n"), (lines, head))
        self.assertNotIn("203.0.113.77", self.service.log())

    def test_slowloris(self):
        slow = [self.raw() for _ in range(20)]
        start = time.monotonic()
        for _ in range(8):
            for sock in slow:
                try:
                    sock.send(b"G")
                except OSError:
                    pass
            time.sleep(0.5)
        for sock in slow:
            self.assertEqual(readAll(sock, timeout=5), b"")
        self.assertLess(time.monotonic() - start, 12)

    def test_oversizedMessage(self):
        with connection(self.url, max_size=None) as big:
            big.send("x" * (2 * MiB))
            with self.assertRaises(Exception):
                big.recv(timeout=10)
            self.assertEqual(big.close_code, 1009)

    def test_oversizedFrameHeaderAlone(self):
        sock = self.opened()
        # Announces a 1 TiB frame and sends none of it: refused from the header.
        sock.sendall(struct.pack("!BBQ", 0x82, 0x80 | 127, 1 << 40) + b"\x00" * 4)
        self.assertEqual(closeCode(readAll(sock)), 1009)

    def test_manyMessagesInPieces(self):
        sock = self.opened()
        data = b"".join(clientFrame(b"tom") for _ in range(500))
        for i in range(0, len(data), 7):
            sock.sendall(data[i:i + 7])
        sock.sendall(clientFrame(b"\x03\xe8", opcode=0x8))
        replies = readAll(sock)
        self.assertEqual(replies.count(b"\x81\x02ok"), 500)

    def test_smuggledHandshake(self):
        for head in [
            b"GET /wss HTTP/1.1\r\nHost: a\r\nHost: b\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n",
            b"GET /wss HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked"
            b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n",
            b"\x00\xff\xfe GET / HTTP/1.1\r\n\x00\r\n\r\n",
            b"POST /wss HTTP/1.1\r\nHost: a\r\n\r\n",
        ]:
            answer = readAll(self.raw(head))
            self.assertRegex(answer.split(b"\r\n")[0], rb"^HTTP/1\.1 4\d\d ", head)

    def test_plainHttp(self):
        answer = readAll(self.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        self.assertTrue(answer.startswith(b"HTTP/1.1 426 "), answer)


class CompressionAbuseTests(AbuseTests):
    extra = ("--compression",)

    def test_deflateBomb(self):
        sock = self.opened(b"\r\nSec-WebSocket-Extensions: permessage-deflate")
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = compressor.compress(b"\x00" * (256 * MiB)) + compressor.flush(zlib.Z_SYNC_FLUSH)
        bomb = bomb[:-4]
        frame = bytearray(clientFrame(bomb, opcode=0x2))
        frame[0] |= 0x40  # RSV1: compressed
        sock.sendall(bytes(frame))
        self.assertEqual(closeCode(readAll(sock)), 1009)

    def test_compressedEcho(self):
        with connection(self.url, compression="deflate") as ws:
            ws.send("tom" * 1000)
            self.assertEqual(ws.recv(timeout=10), "ok")


class TLSAbuseTests(TestCase):
    def setUp(self):
        self.pki = PKI(self.mktemp())
        self.port = freePort()
        self.service = Service(self, "--endpoint", self.pki.endpoint(self.port), port=self.port)
        self.addCleanup(self.assertOthersServed)

    def assertOthersServed(self):
        self.assertEqual(exchange(f"wss://localhost:{self.port}/wss",
                                  ssl=self.pki.clientContext()), "ok")

    def test_weakCiphersRefused(self):
        # The test key is ECDSA: CBC and non-forward-secret suites it could serve.
        for ciphers in ["ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA",
                        "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384",
                        "AES128-GCM-SHA256:AES128-SHA:@SECLEVEL=0"]:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers(ciphers)
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
                e = self.assertRaises(ssl.SSLError, context.wrap_socket, raw)
            self.assertIn("HANDSHAKE_FAILURE", str(e), ciphers)

    def test_plainHttpOnTlsPort(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"GET /wss HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = readAll(sock)
        self.assertFalse(answer.startswith(b"HTTP/1.1 101"))
        self.assertIsNone(self.service.process.poll())
