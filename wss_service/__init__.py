"""A WebSocket (ws and wss) service for twistd: ``twistd -n wss``."""

__version__ = "0.1.0"
