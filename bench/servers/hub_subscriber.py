"""The hub's subscribers for the fan-out benchmark: every connection joins the group "fan"."""

from autobahn.twisted.websocket import WebSocketServerProtocol


class Subscriber(WebSocketServerProtocol):
    def onOpen(self):
        self.hub.joinGroup(self.clientId, "fan")
