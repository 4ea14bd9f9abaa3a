"""
Bad input to the real C{twistd wss}: one readable line, non-zero exit, no
traceback.
"""

import socket

from twisted.python.lockfile import FilesystemLock
from twisted.trial.unittest import TestCase

from tests.support.clients import connection, exchange
from tests.support.pki import PKI
from tests.support.service import Service, freePort, runTwistd


class BadInputTests(TestCase):
    def setUp(self):
        self.pki = PKI(self.mktemp())

    def assertFailsWith(self, fragment, *arguments):
        result = runTwistd(*arguments)
        self.assertNotEqual(result.returncode, 0)
        output = result.stdout + result.stderr
        self.assertNotIn("Traceback", output)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith("wss: "), lines[0])
        self.assertIn(fragment, lines[0])

    def test_unparsableEndpoint(self):
        self.assertFailsWith("Unknown endpoint type", "--endpoint", "tpc:8282")

    def test_missingKey(self):
        self.assertFailsWith("cannot read private key",
                             "--endpoint", self.pki.endpoint(freePort(), key="absent.key"))

    def test_missingCertificate(self):
        self.assertFailsWith("cannot read certificate",
                             "--endpoint", self.pki.endpoint(freePort(), certKey="absent.pem"))

    def test_unreadableKey(self):
        self.assertFailsWith("Is a directory",
                             "--endpoint", self.pki.endpoint(freePort(), key="."))

    def test_keyDoesNotMatch(self):
        self.assertFailsWith("does not match",
                             "--endpoint", self.pki.endpoint(freePort(), key="other.key"))

    def test_portInUse(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            for workers in ("1", "2"):
                self.assertFailsWith("Address already in use; stop whatever holds that address",
                                     "--workers", workers,
                                     "--endpoint", f"tcp:{port}:interface=127.0.0.1")

    def test_socketFileInUse(self):
        # Another process listens on it: its lock file says so.
        path = self.mktemp()
        lock = FilesystemLock(path + ".lock")
        self.assertTrue(lock.lock())
        self.addCleanup(lock.unlock)
        for workers in ("1", "2"):
            self.assertFailsWith("Cannot acquire lock; stop whatever holds that address",
                                 "--workers", workers, "--endpoint", f"unix:{path}")

    def test_badApp(self):
        self.assertFailsWith("cannot import", "--app", "no_such_module:App")
        self.assertFailsWith("not a subclass", "--app", "tests.support.apps:NotAProtocol")
        self.assertFailsWith("raising_app.py:3: RuntimeError: no database configured",
                             "--app", "tests.support.broken.raising_app:App")
        self.assertFailsWith("syntax_app.py:3: SyntaxError",
                             "--app", "tests.support.broken.syntax_app:App")

    def test_badNumbersAndUsage(self):
        for fragment, arguments in [
            ("--workers takes a whole number, 1 or more, not '0'", ["--workers", "0"]),
            ("--workers takes a whole number", ["--workers", "abc"]),
            ("--max-connections takes a whole number, 0 (no limit) or more, not '-3'",
             ["--max-connections", "-3"]),
            ("--idle-timeout takes a number of seconds", ["--idle-timeout=-1"]),
            ("--shutdown-timeout takes a number of seconds", ["--shutdown-timeout=-5"]),
            ("--log-format takes text or json", ["--log-format", "xml"]),
            ("option --nope not recognized", ["--nope"]),
            ("tcp: takes no option foo=", ["--endpoint", "tcp:8282:foo=1"]),
        ]:
            self.assertFailsWith(fragment, *arguments)

    def test_version(self):
        from wss_service import __version__

        result = runTwistd("--version")
        self.assertEqual((result.returncode, result.stdout.strip()),
                         (0, f"wss-service {__version__}"))

    def test_expiredCertificateWarns(self):
        pki = PKI(self.mktemp(), expired=True)
        port = freePort()
        service = Service(self, "--endpoint", pki.endpoint(port), port=port)
        service.waitForLog("expired on")
        self.assertIn("renew it", service.log())


class BadClientTests(TestCase):
    def test_malformedHandshakeClosedOthersUnaffected(self):
        port = freePort()
        Service(self, "--endpoint", f"tcp:{port}:interface=127.0.0.1", port=port)
        url = f"ws://127.0.0.1:{port}/wss"
        with connection(url) as bystander:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as bad:
                bad.sendall(b"GET /wss HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                            b"Connection: Upgrade\r\nSec-WebSocket-Key: short\r\n"
                            b"Sec-WebSocket-Version: 13\r\n\r\n")
                answer = bad.recv(4096)
                self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer)
                self.assertEqual(bad.recv(4096), b"")
            bystander.send("tom")
            self.assertEqual(bystander.recv(timeout=10), "ok")
        self.assertEqual(exchange(url), "ok")
