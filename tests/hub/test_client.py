"""The backend client's failures, against real sockets on loopback: always a HubClientError."""

import http.server
import socket
import threading

from twisted.trial.unittest import TestCase

from tests.support.service import freePort
from wss_service.hub.client import HubClient, HubClientError


class Answering(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the class's C{status} and C{body}."""

    status, body = 200, b"not JSON"

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


class ClientErrorTests(TestCase):
    def serve(self, status, body):
        handler = type("Handler", (Answering,), {"status": status, "body": body})
        server = http.server.HTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return HubClient(f"http://127.0.0.1:{server.server_address[1]}", "k", timeout=5)

    def assertFails(self, client, status, code):
        error = self.assertRaises(HubClientError, client.getAllClientCount)
        self.assertEqual((error.status, error.code), (status, code), error)
        return error

    def test_refused(self):
        client = HubClient(f"http://127.0.0.1:{freePort()}", "k")
        self.assertIn("cannot reach", self.assertFails(client, None, "unreachable").message)

    def test_timeout(self):
        # Listening, never answering.
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        self.addCleanup(silent.close)
        client = HubClient(f"http://127.0.0.1:{silent.getsockname()[1]}", "k", timeout=0.5)
        self.assertFails(client, None, "timeout")

    def test_notTheAPI(self):
        self.assertFails(self.serve(200, b"<html>a login page</html>"), None, "bad_answer")
        self.assertFails(self.serve(200, b'{"no": "result"}'), None, "bad_answer")
        # A proxy's error page: its status, not the API's JSON.
        self.assertFails(self.serve(502, b"<html>Bad Gateway</html>"), 502, "http")

    def test_refusal(self):
        client = self.serve(404, b'{"error": {"code": "not_found", "message": "gone"}}')
        self.assertEqual(self.assertFails(client, 404, "not_found").message, "gone")
