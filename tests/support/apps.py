"""Apps used by the tests through --app."""

from autobahn.twisted.websocket import WebSocketServerProtocol


class AddressProtocol(WebSocketServerProtocol):
    """Answers every message with the client address the service sees."""

    def onMessage(self, payload, isBinary):
        self.sendMessage(str(self.clientAddress).encode())


class NotAProtocol:
    pass
