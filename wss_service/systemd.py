"""
Telling systemd how the service is doing (sd_notify): ready once every
endpoint listens, stopping on shutdown, and the watchdog's heartbeat.
"""

import os
import socket

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

log = Logger(namespace="wss")


class Notifier:
    """Datagrams to C{$NOTIFY_SOCKET}; does nothing when it is not set."""

    def __init__(self, environ=os.environ):
        address = environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]
        self.address = address or None
        usec = environ.get("WATCHDOG_USEC")
        pid = environ.get("WATCHDOG_PID")
        mine = pid is None or pid == str(os.getpid())
        self.watchdogInterval = int(usec) / 2e6 if usec and mine else None

    def notify(self, *lines):
        if self.address is None:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            try:
                s.sendto("\n".join(lines).encode(), self.address)
            except OSError as e:
                log.warn("cannot notify systemd at {address}: {e}", address=self.address, e=e)


class SystemdService(Service):
    """
    Sends C{READY=1} once all C{listeners} listen, C{WATCHDOG=1} every half
    C{WatchdogSec}, and C{STOPPING=1} when the service begins to stop.
    """

    def __init__(self, listeners, reactor, notifier=None):
        self.listeners = listeners
        self.notifier = notifier or Notifier()
        self._heartbeat = LoopingCall(self.notifier.notify, "WATCHDOG=1")
        self._heartbeat.clock = reactor

    def startService(self):
        super().startService()
        listening = [defer.Deferred() for _ in self.listeners]
        for listener, d in zip(self.listeners, listening):
            listener.whenListening(d.callback)
        defer.gatherResults(listening).addCallback(self._ready)
        if self.notifier.watchdogInterval:
            self._heartbeat.start(self.notifier.watchdogInterval)

    def _ready(self, ports):
        self.notifier.notify("READY=1", f"STATUS=listening on {len(ports)} endpoint(s)")

    def stopService(self):
        self.notifier.notify("STOPPING=1", "STATUS=closing connections")
        if self._heartbeat.running:
            self._heartbeat.stop()
        return super().stopService()
