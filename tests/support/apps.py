"""Apps used by the tests through --app."""

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
