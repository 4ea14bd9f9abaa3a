"""
The WebSocket subprotocol C{wss-hub.v1}, for clients that want to know
where they stand in each stream and to miss nothing across a reconnect.

Every frame is a JSON text object with a C{type}. Server to client:
C{message} (C{data}, or C{data_base64} for binary; with C{stream},
C{epoch}, C{offset} for a message of a stream with history, and C{also}
listing its other streams' positions), C{position} (where a stream stands,
sent when the connection enters it), C{recovered} (after a resume), and
C{ping}. Client to server: C{message} only; anything else closes with 1002.

A client resumes with C{?resume=} holding base64url JSON C{{"group:chat":
{"epoch": "...", "offset": 17}, ...}}: each named stream the connection
then belongs to is replayed from that offset, in order and once, before
any newer message of it.
"""

import base64
import binascii
import json

from wss_service.hub.errors import HubUnavailable

from twisted.internet import defer
from twisted.logger import Logger

log = Logger(namespace="wss")
SUBPROTOCOL = "wss-hub.v1"
PROTOCOL_ERROR = 1002
PING = b'{"type":"ping"}'
RESUME_LIMIT = 100


class BadResume(ValueError):
    """A C{resume} value that is not base64url JSON of the documented shape."""


def parseResume(text):
    """
    C{?resume=} as C{{stream: (epoch, offset)}}.

    @raise BadResume: with one line saying what is wrong.
    """
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadResume("resume is not base64url JSON") from None
    if not isinstance(value, dict) or len(value) > RESUME_LIMIT:
        raise BadResume(f"resume must be a JSON object of at most {RESUME_LIMIT} streams")
    positions = {}
    for stream, position in value.items():
        if not (isinstance(position, dict) and isinstance(position.get("epoch"), str)
                and type(position.get("offset")) is int and position["offset"] >= 0):
            raise BadResume(f'resume[{stream!r}] must be {{"epoch": "...", "offset": N}}')
        positions[stream] = (position["epoch"], position["offset"])
    return positions


def dataFields(data):
    """Text as C{data}, bytes as C{data_base64}."""
    if isinstance(data, str):
        return {"data": data}
    return {"data_base64": base64.b64encode(data).decode()}


def messageFrame(data, positions=()):
    """C{data} (text or bytes) as a C{message} frame, with its C{[[stream, epoch, offset]]}."""
    frame = {"type": "message", **dataFields(data)}
    if positions:
        (stream, epoch, offset), *others = positions
        frame.update(stream=stream, epoch=epoch, offset=offset)
        if others:
            frame["also"] = [{"stream": s, "epoch": e, "offset": o} for s, e, o in others]
    return json.dumps(frame, ensure_ascii=False).encode()


class Framing:
    """
    One C{wss-hub.v1} connection: what the app sends and receives goes
    through it (as instance attributes of the protocol, so that plain
    connections pay nothing), and so does what the hub delivers.

    Streams are entered in batches (all those of the connection at open; a
    later join or bind): while any batch is being read, what the hub
    delivers is held, then the replay goes out merged in the order the
    messages were sent, then what was held, each once.

    @ivar sent: per stream, C{(epoch, offset)} of the last message sent.
    @ivar entering: the streams being entered (their history being read).
    @ivar held: what the hub delivered meanwhile, in order.
    @ivar unentered: batches whose reading failed (Redis away), still
        held, read again by L{retry} once Redis is back.
    """

    def __init__(self, protocol, resume):
        self.protocol = protocol
        self.resume = resume
        self.sent = {}
        self.entering = set()
        self.held = []
        self.unentered = []
        self.opened = False
        self._write = type(protocol).sendMessage

    def install(self):
        self.protocol.sendMessage = self.appSend
        self.protocol.onMessage = self.appReceived

    def _out(self, frame):
        self._write(self.protocol, frame, False)

    def appSend(self, payload, isBinary=False, *args, **kwargs):
        """The app's C{sendMessage}: a C{message} frame."""
        self._out(messageFrame(payload if isBinary else payload.decode("utf-8")))

    def appReceived(self, payload, isBinary):
        """A client frame: the app's C{onMessage} gets the payload of a C{message}."""
        try:
            if isBinary:
                raise ValueError("binary frame")
            frame = json.loads(payload)
            if not isinstance(frame, dict) or frame.get("type") != "message":
                raise ValueError("not a message")
            if isinstance(frame.get("data"), str):
                data, binary = frame["data"].encode("utf-8"), False
            else:
                data, binary = base64.b64decode(frame["data_base64"], validate=True), True
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError):
            self.protocol.sendCloseFrame(PROTOCOL_ERROR, b'wss-hub.v1 takes {"type": '
                                         b'"message", "data": ...} only', isReply=False)
            return
        type(self.protocol).onMessage(self.protocol, data, binary)

    def ping(self):
        self._out(PING)

    def deliver(self, data, positions):
        """A hub message, with the positions of the streams of this connection it belongs to."""
        if self.entering:
            self.held.append((data, positions))
        else:
            self._send(data, positions)

    def _send(self, data, positions):
        if positions and all(self._had(*p) for p in positions):
            return  # sent already, by a replay
        for stream, epoch, offset in positions:
            if not self._had(stream, epoch, offset):
                self.sent[stream] = (epoch, offset)
        self._out(messageFrame(data, positions))

    def _had(self, stream, epoch, offset):
        last = self.sent.get(stream)
        return last is not None and last[0] == epoch and offset <= last[1]

    def enter(self, streams, read):
        """
        The connection is now in C{streams}: for each not entered yet, say
        where it stands, or replay what it missed if it resumes it.
        C{read(stream, since, epoch)} gives a
        L{wss_service.hub.history.Page}.
        """
        if not self.opened:
            return  # the streams it is in once open are entered then, in one batch
        batch = [(s, self.resume.pop(s, (None, None))) for s in streams
                 if s not in self.sent and s not in self.entering]
        if batch:
            self.entering.update(s for s, _ in batch)
            self._read(batch, read)

    def _read(self, batch, read):
        d = defer.gatherResults([read(stream, since, epoch) for stream, (epoch, since) in batch],
                                consumeErrors=True)
        d.addCallbacks(self._entered, self._notEntered, (batch,), None, (batch,))

    def retry(self, read):
        """Read again the batches whose reading failed."""
        unentered, self.unentered = self.unentered, []
        for batch in unentered:
            self._read(batch, read)

    def _entered(self, pages, batch):
        replay = {}
        for (stream, (epoch, since)), page in zip(batch, pages):
            resumed = epoch == page.epoch and since is not None
            self.sent[stream] = (page.epoch, since if resumed else page.offset)
            for entry in page.entries if resumed else ():
                replay[entry[3]] = entry
        for order in sorted(replay):
            _, data, positions, _ = replay[order]
            # Only the positions of streams this connection is in.
            self._send(data, [p for p in positions if p[0] in self.sent])
        for (stream, (epoch, since)), page in zip(batch, pages):
            self.sent[stream] = (page.epoch, page.offset)
            self._out(json.dumps(_where(stream, epoch, since, page), ensure_ascii=False).encode())
        self._done(batch)

    def _notEntered(self, failure, batch):
        if failure.value.subFailure.check(HubUnavailable):
            # What comes meanwhile waits; read again when Redis is back.
            self.unentered.append(batch)
            return
        log.failure("entering {streams} failed; the connection is told nothing of them",
                    failure.value.subFailure, streams=[s for s, _ in batch])
        self._done(batch)

    def _done(self, batch):
        self.entering.difference_update(s for s, _ in batch)
        if not self.entering:
            held, self.held = self.held, []
            for data, positions in held:
                self._send(data, positions)


def _where(stream, epoch, since, page):
    """The C{position} frame, or after a resume the C{recovered} one."""
    if since is None:
        return {"type": "position", "stream": stream, "epoch": page.epoch,
                "offset": page.offset}
    missed = lost = None
    if epoch == page.epoch:
        missed = max(0, page.offset - since)
        lost = max(0, missed - len(page.entries))
    return {"type": "recovered", "stream": stream, "recovered": lost == 0, "missed": missed,
            "lost": lost, "epoch": page.epoch, "offset": page.offset}


def pingAll(factory):
    """
    C{{"type": "ping"}} to every C{wss-hub.v1} connection (run every ping
    interval): browsers do not show WebSocket pings to a page, so a client
    tells a dead connection by two intervals without a frame.
    """
    for protocol in list(factory.connections):
        if protocol.hubFraming is not None and protocol.state == protocol.STATE_OPEN:
            protocol.hubFraming.ping()
