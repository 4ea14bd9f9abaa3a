"""Members of the hub in tests: a connection that knows its client id and keeps what it gets."""

import base64
import json
import os
import socket
import time

from tests.support.clients import connection
from tests.support.handshake import request, serverFrames
from wss_service.hub.ids import nodeOf


class Member:
    """A connection to an app that says C{{"clientId": ...}} first (HubProtocol, ChatProtocol)."""

    def __init__(self, url, **options):
        self.ws = connection(url, **options)
        welcome = json.loads(self.ws.recv(timeout=10))
        self.clientId = welcome["clientId"]
        self.node = nodeOf(self.clientId)
        self.inbox = []

    def call(self, method, *args, **kwargs):
        """Run a hub method in the app (HubProtocol); its answer."""
        self.ws.send(json.dumps({"call": method, "args": list(args), "kwargs": kwargs}))
        while True:
            message = self.ws.recv(timeout=10)
            try:
                answer = json.loads(message)
            except ValueError:
                answer = None
            if isinstance(answer, dict) and ("result" in answer or "error" in answer):
                return answer
            self.inbox.append(message)

    def received(self, count, timeout=10):
        """Wait until C{count} messages came in; all of them (more may follow)."""
        deadline = time.monotonic() + timeout
        while len(self.inbox) < count:
            self.inbox.append(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        return list(self.inbox)

    def quiet(self, seconds=0.5):
        """Nothing more arrives within C{seconds}."""
        try:
            extra = self.ws.recv(timeout=seconds)
        except TimeoutError:
            return True
        self.inbox.append(extra)
        return False

    def ended(self, seconds=2):
        """Whether the connection ends (the server's process died) within C{seconds}."""
        try:
            self.inbox.append(self.ws.recv(timeout=seconds))
        except TimeoutError:
            return False
        except Exception:
            return True
        return False

    def close(self):
        self.ws.close()


class Mute:
    """
    A raw connection to an app that says C{{"clientId": ...}} first, which
    then never reads or answers anything again: a phone gone out of
    coverage. A close the server sends it stays unanswered, so the server
    holds it as closing until its close handshake timeout.
    """

    def __init__(self, port, path="/wss"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(request(path))
        data = b""
        while not (b"\r\n\r\n" in data and serverFrames(data)):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"the server ended the connection: {data!r}")
            data += chunk
            if b"\r\n\r\n" in data and not data.startswith(b"HTTP/1.1 101"):
                raise AssertionError(f"not upgraded: {data!r}")
        self.clientId = json.loads(serverFrames(data)[0][1])["clientId"]
        self.node = nodeOf(self.clientId)

    def close(self):
        self.sock.close()


class Subscriber:
    """
    A C{wss-hub.v1} client: keeps every frame, and where it stands in each
    stream, to resume from there on its next connection.
    """

    def __init__(self, url, resume=None):
        if resume:
            encoded = base64.urlsafe_b64encode(json.dumps(resume).encode()).decode()
            url += ("&" if "?" in url else "?") + "resume=" + encoded.rstrip("=")
        self.ws = connection(url, subprotocols=["wss-hub.v1"])
        self.frames = []
        self.positions = {}

    def _next(self, timeout):
        frame = json.loads(self.ws.recv(timeout=timeout))
        self.frames.append(frame)
        if frame["type"] == "message":
            for position in [frame, *frame.get("also", ())]:
                if "stream" in position:
                    self.positions[position["stream"]] = {"epoch": position["epoch"],
                                                          "offset": position["offset"]}
        elif frame["type"] in ("position", "recovered"):
            self.positions[frame["stream"]] = {"epoch": frame["epoch"],
                                               "offset": frame["offset"]}
        return frame

    def until(self, check, timeout=10):
        """Read frames until C{check(frames)} is true; the frames."""
        deadline = time.monotonic() + timeout
        while not check(self.frames):
            self._next(max(0.1, deadline - time.monotonic()))
        return self.frames

    def messages(self, stream=None):
        return [f["data"] for f in self.frames if f["type"] == "message"
                and (stream is None or f.get("stream") == stream)]

    def recovered(self):
        return {f["stream"]: f for f in self.frames if f["type"] == "recovered"}

    def close(self):
        self.ws.close()


def waitFor(check, expected, timeout=15):
    """Call C{check()} until it returns C{expected}; its last answer otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer == expected or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def secretFile(testCase, text):
    """A file in the test's folder holding C{text} (an API key, a JWT secret): its path."""
    path = os.path.abspath(testCase.mktemp())
    with open(path, "w") as f:
        f.write(text)
    return path
