"""
Real WebSocket clients (the websockets library), blocking, with timeouts.

Every connection's I/O runs on one event loop thread, as browsers, Node's
C{ws} and the asyncio client do theirs. The library's threaded sync client
reads in a thread of its own while the caller writes, so two threads use
one OpenSSL session at once, which OpenSSL does not allow: against a TLS 1.3
server it loses about one opening handshake in 900.
"""

import asyncio
import socket
import threading

from websockets.asyncio.client import connect

_loop = None
_started = threading.Lock()


def _run(coroutine, timeout=30):
    """Run C{coroutine} on the clients' event loop thread; its result."""
    global _loop
    with _started:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="ws-clients", daemon=True).start()
    return asyncio.run_coroutine_threadsafe(coroutine, _loop).result(timeout)


class Client:
    """One open connection, used from the test's thread."""

    def __init__(self, websocket):
        self.websocket = websocket

    @property
    def close_code(self):
        return self.websocket.close_code

    def send(self, message):
        _run(self.websocket.send(message))

    def recv(self, timeout=None):
        """The next message; L{TimeoutError} after C{timeout} seconds."""
        return _run(asyncio.wait_for(self.websocket.recv(), timeout),
                    None if timeout is None else timeout + 5)

    def close(self):
        _run(self.websocket.close())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connection(url, ssl=None, source="127.0.0.1", headers=None, **options):
    options.setdefault("open_timeout", 10)
    options.setdefault("close_timeout", 5)
    options.setdefault("proxy", None)

    async def opened():
        return await connect(url, ssl=ssl, local_addr=(source, 0),
                             additional_headers=headers, **options)

    return Client(_run(opened()))


def exchange(url, message="tom", **options):
    """Connect, send one message, return the answer."""
    with connection(url, **options) as ws:
        ws.send(message)
        return ws.recv(timeout=10)


def closeCodes(clients):
    """Wait for each client to be closed by the server; the set of close codes."""
    codes = set()
    for client in clients:
        try:
            while True:
                client.recv(timeout=10)
        except Exception:
            codes.add(client.close_code)
    return codes


def rawHead(port, lines, ssl=None, source="127.0.0.1", host="localhost"):
    """
    Send an opening handshake with these extra header lines (bytes, sent as
    they are) and return the response head the server answers with.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                    source_address=(source, 0))
    with sock:
        if ssl is not None:
            sock = ssl.wrap_socket(sock, server_hostname=host)
        sock.sendall(b"\r\n".join([
            b"GET /wss HTTP/1.1", f"Host: {host}:{port}".encode(), b"Upgrade: websocket",
            b"Connection: Upgrade", b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            b"Sec-WebSocket-Version: 13", *lines]) + b"\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
        return head.partition(b"\r\n\r\n")[0]
