"""
The real service, started as C{twistd -n wss}, serving ws and wss directly.
"""

import os
import socket
import ssl
import subprocess
import time

from twisted.trial.unittest import SkipTest, TestCase

from tests.support.binaries import requireBinary
from tests.support.clients import exchange
from tests.support.handshake import clientFrame, request
from tests.support.pki import PKI
from tests.support.service import REPO, Service, environment, freePort


PERMISSIVE_OPENSSL_CONF = """
openssl_conf = default_conf
[default_conf]
ssl_conf = ssl_section
[ssl_section]
system_default = system_default_section
[system_default_section]
MinProtocol = TLSv1
CipherString = ALL@SECLEVEL=0
"""


class DirectTests(TestCase):
    def setUp(self):
        self.pki = PKI(self.mktemp())
        self.port, self.tlsPort = freePort(), freePort()
        # Under a permissive system OpenSSL configuration (Debian's sets TLS
        # 1.2 as the minimum), so that only the service's own policy is tested.
        permissive = os.path.abspath(self.mktemp())
        with open(permissive, "w") as f:
            f.write(PERMISSIVE_OPENSSL_CONF)
        self.service = Service(
            self, "--endpoint", f"tcp:{self.port}:interface=127.0.0.1",
            "--endpoint", self.pki.endpoint(self.tlsPort), port=self.tlsPort,
            env=environment(OPENSSL_CONF=permissive),
        )

    def wss(self, host="localhost", **options):
        return exchange(f"wss://{host}:{self.tlsPort}/wss", ssl=self.pki.clientContext(),
                        **options)

    def test_ws(self):
        self.assertEqual(exchange(f"ws://127.0.0.1:{self.port}/wss"), "ok")

    def test_saysWhereItListens(self):
        self.service.waitForLog(f"listening on wss://127.0.0.1:{self.tlsPort}")
        log = self.service.log()
        self.assertIn(f"listening on ws://127.0.0.1:{self.port}\n", log)
        self.assertNotIn(" object at 0x", log)

    def test_wssVerifiedAgainstTestCA(self):
        self.assertEqual(self.wss(), "ok")
        self.assertEqual(self.wss(host="127.0.0.1"), "ok")

    def test_tls12And13(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            context = self.pki.clientContext()
            context.minimum_version = context.maximum_version = version
            with socket.create_connection(("127.0.0.1", self.tlsPort), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as tls:
                    self.assertEqual(tls.version(), version.name.replace("_", "."))

    def test_tls10And11Refused(self):
        for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.set_ciphers("ALL:@SECLEVEL=0")
            context.minimum_version = context.maximum_version = version
            with socket.create_connection(("127.0.0.1", self.tlsPort), timeout=10) as raw:
                e = self.assertRaises(ssl.SSLError, context.wrap_socket, raw)
            # The server's alert, not a client that could not even offer it.
            self.assertIn("PROTOCOL_VERSION", str(e), version)

    def test_plainWsOnWssPortFailsAndServiceGoesOn(self):
        with self.assertRaises(Exception):
            exchange(f"ws://127.0.0.1:{self.tlsPort}/wss", open_timeout=5)
        self.assertIsNone(self.service.process.poll())
        self.assertEqual(self.wss(), "ok")
        self.assertEqual(exchange(f"ws://127.0.0.1:{self.port}/wss"), "ok")

    def test_opensslClient(self):
        openssl = requireBinary("openssl")
        result = subprocess.run(
            [openssl, "s_client", "-connect", f"127.0.0.1:{self.tlsPort}",
             "-servername", "localhost", "-CAfile", self.pki.path("ca.pem"),
             "-verify_return_error", "-brief"],
            input="", capture_output=True, text=True, timeout=20,
        )
        self.assertIn("Verification: OK", result.stderr)
        self.assertEqual(result.returncode, 0, result.stderr)


class ChainTests(TestCase):
    def test_missingChainFailsVerification(self):
        pki = PKI(self.mktemp())
        port = freePort()
        Service(self, "--endpoint", pki.endpoint(port, certKey="leaf.pem"), port=port)
        e = self.assertRaises(ssl.SSLError, exchange, f"wss://localhost:{port}/wss",
                              ssl=pki.clientContext())
        self.assertIn("CERTIFICATE_VERIFY_FAILED", str(e))

    def test_extraCertChainServed(self):
        pki = PKI(self.mktemp())
        port = freePort()
        chain = f":extraCertChain={pki.path('chain.pem')}"
        Service(self, "--endpoint", pki.endpoint(port, certKey="leaf.pem", extra=chain),
                port=port)
        self.assertEqual(exchange(f"wss://localhost:{port}/wss", ssl=pki.clientContext()), "ok")


NODE_CLIENT = """
const WebSocket = require("ws");
const fs = require("fs");
const ws = new WebSocket(process.argv[1], { ca: fs.readFileSync(process.argv[2]) });
ws.on("open", () => ws.send("tom"));
ws.on("message", (data) => { console.log(data.toString()); ws.close(); });
ws.on("error", (e) => { console.error(e.message); process.exit(1); });
"""


class ClientTests(TestCase):
    """Mainstream clients other than Python's and the browser's."""

    def test_nodeWs(self):
        node = requireBinary("node")
        modules = os.path.join(REPO, "bench", "node_modules")
        if not os.path.exists(os.path.join(modules, "ws")):
            message = f"Node's ws is not installed: npm install --prefix {REPO}/bench ws@8"
            if os.environ.get("CI", "").lower() == "true":
                raise AssertionError(message)
            raise SkipTest(message)
        pki = PKI(self.mktemp())
        port = freePort()
        Service(self, "--endpoint", pki.endpoint(port), port=port)
        result = subprocess.run(
            [node, "-e", NODE_CLIENT, f"wss://localhost:{port}/wss", pki.path("ca.pem")],
            capture_output=True, text=True, timeout=30, env=dict(os.environ, NODE_PATH=modules))
        self.assertEqual((result.returncode, result.stdout.strip()), (0, "ok"), result.stderr)


class ProxyProtocolTests(TestCase):
    def test_haproxyEndpointFeedsClientAddress(self):
        port = freePort()
        Service(self, "--endpoint", f"haproxy:tcp:{port}:interface=127.0.0.1",
                "--app", "tests.support.apps:AddressProtocol", port=port, wait=False)
        deadline = time.monotonic() + 15
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except ConnectionRefusedError:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
        with sock:
            sock.sendall(f"PROXY TCP4 198.51.100.7 127.0.0.1 5555 {port}\r\n".encode()
                         + request(X_Real_IP="6.6.6.6"))
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(4096)
            self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
            sock.sendall(clientFrame(b"tom"))
            self.assertEqual(sock.recv(4096), b"\x81\x0c198.51.100.7")
