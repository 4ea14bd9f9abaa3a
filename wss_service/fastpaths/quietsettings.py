"""
Autobahn pretty-prints every connection's settings for a debug line,
whether or not debug lines are written: about a third of a TLS
connection's set-up time. Here the text is made only if a line is written.
"""

from pprint import pformat

import autobahn.websocket.protocol as autobahnProtocol
from autobahn.websocket.protocol import WebSocketProtocol


def missing():
    """Why this cannot serve here, or L{None} if it can."""
    if (getattr(autobahnProtocol, "pformat", None) is not pformat
            or "pformat" not in WebSocketProtocol._connectionMade.__code__.co_names):
        return "Autobahn no longer pretty-prints settings in _connectionMade"
    return None


class LazyFormat:
    """C{pformat(value)}, computed only if a log line is really written."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __format__(self, spec):
        return format(pformat(self.value), spec)


class QuietSettings:
    """Mixed in before the app's class."""

    def _connectionMade(self):
        autobahnProtocol.pformat = LazyFormat
        try:
            super()._connectionMade()
        finally:
            autobahnProtocol.pformat = pformat
