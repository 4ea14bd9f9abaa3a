"""Real WebSocket clients (the websockets library), blocking, with timeouts."""

from websockets.sync.client import connect


def connection(url, ssl=None, source="127.0.0.1", headers=None, **options):
    options.setdefault("open_timeout", 10)
    options.setdefault("close_timeout", 5)
    options.setdefault("proxy", None)
    return connect(
        url, ssl=ssl, source_address=(source, 0),
        additional_headers=headers, **options,
    )


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
    import socket

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
