"""
The Python ceiling for fan-out: a bare Autobahn/Twisted server broadcasting in
process. A message on /pub goes to every other connection, then "ok" goes back
to the publisher. PORT
"""

import sys

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import reactor

subscribers = set()


class Broadcast(WebSocketServerProtocol):
    def onConnect(self, request):
        self.publisher = request.path == "/pub"

    def onOpen(self):
        if not self.publisher:
            subscribers.add(self)

    def onClose(self, wasClean, code, reason):
        subscribers.discard(self)

    def onMessage(self, payload, isBinary):
        for subscriber in subscribers:
            subscriber.sendMessage(payload, isBinary)
        self.sendMessage(b"ok")


def main(port):
    factory = WebSocketServerFactory()
    factory.protocol = Broadcast
    reactor.listenTCP(int(port), factory, backlog=4096, interface="127.0.0.1")
    reactor.run()


if __name__ == "__main__":
    main(*sys.argv[1:])
