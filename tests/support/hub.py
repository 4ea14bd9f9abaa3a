"""Members of the hub in tests: a connection that knows its client id and keeps what it gets."""

import json
import os
import time

from tests.support.clients import connection
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
