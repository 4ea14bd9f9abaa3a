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
