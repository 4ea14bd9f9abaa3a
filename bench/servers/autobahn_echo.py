"""The reference: a bare Autobahn/Twisted echo server. PORT [KEY CERT]"""

import sys

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import reactor, ssl


class Echo(WebSocketServerProtocol):
    def onMessage(self, payload, isBinary):
        self.sendMessage(payload, isBinary)


def main(port, key=None, cert=None):
    factory = WebSocketServerFactory()
    factory.protocol = Echo
    if key:
        context = ssl.DefaultOpenSSLContextFactory(key, cert)
        reactor.listenSSL(int(port), factory, context, backlog=4096, interface="127.0.0.1")
    else:
        reactor.listenTCP(int(port), factory, backlog=4096, interface="127.0.0.1")
    reactor.run()


if __name__ == "__main__":
    main(*sys.argv[1:])
