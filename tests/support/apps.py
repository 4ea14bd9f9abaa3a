"""Apps used by the tests through --app."""

import json
import os

from autobahn.twisted.websocket import WebSocketServerProtocol


class AddressProtocol(WebSocketServerProtocol):
    """Answers every message with the client address the service sees."""

    def onMessage(self, payload, isBinary):
        self.sendMessage(str(self.clientAddress).encode())


class NotAProtocol:
    pass


class PidProtocol(WebSocketServerProtocol):
    """Answers every message with the pid of the process that serves it."""

    def onMessage(self, payload, isBinary):
        self.sendMessage(str(os.getpid()).encode())


class HubProtocol(WebSocketServerProtocol):
    """
    Says C{{"clientId": ...}} on open, then runs each message
    C{{"call": METHOD, "args": [...], "kwargs": {...}}} on C{self.hub} and
    answers C{{"result": ...}} or C{{"error": ...}}: the app's side of the hub,
    driven by a test.
    """

    def onOpen(self):
        self.sendMessage(json.dumps({"clientId": self.clientId}).encode())

    def onMessage(self, payload, isBinary):
        request = json.loads(payload)
        d = getattr(self.hub, request["call"])(*request.get("args", []),
                                               **request.get("kwargs", {}))
        d.addCallbacks(lambda result: {"result": result},
                       lambda f: {"error": f"{f.type.__name__}: {f.value}"})
        d.addCallback(lambda answer: self.sendMessage(json.dumps(answer).encode()))


class PatientHubProtocol(HubProtocol):
    """
    HubProtocol that waits a minute for a client to answer its close, as an
    app would for phones that lose coverage: a member the server closed
    stays closing, not closed, while a test sends.
    """

    closeHandshakeTimeout = 60
