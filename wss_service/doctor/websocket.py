"""
Just enough of a WebSocket client (RFC 6455) to see what a browser would:
the opening handshake as it is answered, a ping, a message, and how an idle
connection ends.
"""

import base64
import hashlib
import os
import socket
import struct
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PING, PONG, CLOSE, TEXT = 0x9, 0xA, 0x8, 0x1


class Closed(Exception):
    """The peer closed: C{code} from its close frame, or L{None} for a bare TCP end."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def accept(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


class Response:
    def __init__(self, head):
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        self.statusLine = lines[0]
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()


class Client:
    """One WebSocket connection over a connected socket (plain or TLS)."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def handshake(self, host, path, origin=None):
        """Send the opening request; the L{Response}, and whether its accept is right."""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13", "User-Agent: wss-doctor"]
        if origin:
            lines.append(f"Origin: {origin}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed(None)
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        response = Response(head)
        return response, response.headers.get("sec-websocket-accept") == accept(key)

    def send(self, opcode, payload=b""):
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0xFE, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, length)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _read(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed(None)
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def frame(self):
        """The next frame from the server, C{(opcode, payload)}; a ping is answered."""
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        payload = self._read(length)
        opcode = first & 0x0F
        if opcode == PING:
            self.send(PONG, payload)
        elif opcode == CLOSE:
            raise Closed(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005)
        return opcode, payload

    def ping(self, timeout):
        """Seconds until the server answered a ping with its pong."""
        payload = os.urandom(8)
        start = time.monotonic()
        self.send(PING, payload)
        self.sock.settimeout(timeout)
        while True:
            opcode, data = self.frame()
            if opcode == PONG and data == payload:
                return time.monotonic() - start

    def exchange(self, text, timeout):
        """Send a text message; the first message that comes back."""
        self.send(TEXT, text.encode())
        self.sock.settimeout(timeout)
        while True:
            opcode, data = self.frame()
            if opcode not in (PING, PONG):
                return data.decode("utf-8", "replace")

    def idle(self, seconds):
        """
        Stay silent (pings from the server are answered) for C{seconds}.

        @return: L{None} if the connection lived, else C{(after, code)}.
        """
        start = time.monotonic()
        deadline = start + seconds
        try:
            while (left := deadline - time.monotonic()) > 0:
                self.sock.settimeout(left)
                try:
                    self.frame()
                except (socket.timeout, TimeoutError):
                    return None
        except Closed as e:
            return time.monotonic() - start, e.code
        except OSError:
            return time.monotonic() - start, None
        return None
