import socket
import struct

from twisted.trial.unittest import TestCase

from wss_service.doctor import websocket


class ClientTests(TestCase):
    def setUp(self):
        self.mine, self.server = socket.socketpair()
        self.addCleanup(self.mine.close)
        self.addCleanup(self.server.close)
        self.server.settimeout(5)
        self.client = websocket.Client(self.mine)

    def test_accept(self):
        # RFC 6455, section 1.3.
        self.assertEqual(websocket.accept("dGhlIHNhbXBsZSBub25jZQ=="),
                         "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")

    def test_handshake(self):
        self.server.sendall(b"HTTP/1.1 404 Not Found\r\nServer: x\r\n\r\nleft")
        response, accepted = self.client.handshake("example.com", "/wss", "https://a.example")
        self.assertEqual((response.status, response.headers["server"], accepted),
                         (404, "x", False))
        request = self.server.recv(4096)
        self.assertIn(b"Origin: https://a.example\r\n", request)
        self.assertEqual(self.client.buffer, b"left")

    def test_pingsAnsweredWhileWaitingForPong(self):
        self.server.sendall(b"\x89\x02hi")
        self.server.sendall(b"\x81\x01x")
        opcode, payload = self.client.frame()
        self.assertEqual((opcode, payload), (websocket.PING, b"hi"))
        sent = self.server.recv(4096)
        mask = sent[2:6]
        self.assertEqual(sent[0], 0x8A)
        self.assertEqual(bytes(b ^ mask[i % 4] for i, b in enumerate(sent[6:])), b"hi")
        self.assertEqual(self.client.frame(), (websocket.TEXT, b"x"))

    def test_closeAndEnd(self):
        self.server.sendall(b"\x88\x02" + struct.pack("!H", 1001))
        e = self.assertRaises(websocket.Closed, self.client.frame)
        self.assertEqual(e.code, 1001)
        self.server.close()
        self.assertIsNone(self.assertRaises(websocket.Closed, self.client.frame).code)

    def test_idle(self):
        self.assertIsNone(self.client.idle(0.2))
        self.server.sendall(b"\x89\x00")
        self.server.shutdown(socket.SHUT_WR)
        after, code = self.client.idle(5)
        self.assertIsNone(code)
        self.assertLess(after, 5)
