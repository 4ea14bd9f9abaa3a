"""
The apps that ship with the service, and loading the user's own.

An app is any Autobahn C{WebSocketServerProtocol} subclass: it sees
C{self.clientAddress} (the real client, see L{wss_service.realip}) from
C{onConnect} on.
"""

import json
import traceback
from importlib import import_module

from autobahn.twisted.websocket import WebSocketServerProtocol

from wss_service.errors import ConfigurationError
from wss_service.hub.errors import HubUnavailable


class OkProtocol(WebSocketServerProtocol):
    """The classic: whatever the client sends, the answer is C{ok}."""

    def onMessage(self, payload, isBinary):
        self.sendMessage(b"ok")


class EchoProtocol(WebSocketServerProtocol):
    """Every message goes back as it came."""

    def onMessage(self, payload, isBinary):
        self.sendMessage(payload, isBinary)


class ChatProtocol(WebSocketServerProtocol):
    """
    A chat room on the hub: every text message goes to every member, on
    whatever process or machine it is connected. Each member first gets
    C{{"type": "welcome", "clientId": ...}}; then
    C{{"type": "message", "from": CLIENT_ID, "text": ...}} for each message.
    """

    room = "chat"

    def onOpen(self):
        self.sendMessage(json.dumps({"type": "welcome", "clientId": self.clientId}).encode())
        self.hub.joinGroup(self.clientId, self.room).addErrback(_redisAway)

    def onMessage(self, payload, isBinary):
        if not isBinary:
            self.hub.sendToGroup(self.room, json.dumps(
                {"type": "message", "from": self.clientId, "text": payload.decode()})
            ).addErrback(_redisAway)


def _redisAway(failure):
    # While Redis is away, members here are still reached; the hub puts
    # this process's groups back when it returns.
    failure.trap(HubUnavailable)


def _where(error):
    """C{file:line} where an import failed: the syntax error, or the last frame."""
    if isinstance(error, SyntaxError):
        return f"{error.filename}:{error.lineno}"
    frame = traceback.extract_tb(error.__traceback__)[-1]
    return f"{frame.filename}:{frame.lineno}"


def loadApp(spec):
    """
    Import C{module:Class} and check that it is a WebSocket server protocol.

    @raise ConfigurationError: if it is not.
    """
    moduleName, colon, className = spec.partition(":")
    if not (colon and moduleName and className):
        raise ConfigurationError(
            f"--app {spec!r} is not of the form module:Class, "
            f"e.g. --app wss_service.apps:EchoProtocol"
        )
    try:
        module = import_module(moduleName)
    except ModuleNotFoundError as e:
        raise ConfigurationError(
            f"--app {spec!r}: cannot import {moduleName} ({e}); "
            f"install it or add its folder to PYTHONPATH"
        ) from None
    except Exception as e:
        raise ConfigurationError(
            f"--app {spec!r}: importing {moduleName} failed at {_where(e)}: "
            f"{type(e).__name__}: {e}; fix the module"
        ) from e
    try:
        app = getattr(module, className)
    except AttributeError:
        raise ConfigurationError(
            f"--app {spec!r}: {moduleName} has no {className}; check the name"
        ) from None
    if not (isinstance(app, type) and issubclass(app, WebSocketServerProtocol)):
        raise ConfigurationError(
            f"--app {spec!r} is not a subclass of "
            f"autobahn.twisted.websocket.WebSocketServerProtocol; subclass it"
        )
    return app
