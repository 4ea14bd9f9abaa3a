"""
A short road for the frames most services carry: whole, unfragmented,
uncompressed text or binary frames of up to 64 KiB, in and out.

It also takes the keepalive's pings out and their pongs in (whole, masked
pongs of up to 125 bytes go straight to Autobahn's verdict on them,
C{processControlFrame}). Everything else (other control frames,
fragments, compression, a limit crossed, invalid UTF-8, a frame not yet
complete enough to judge) goes on Autobahn's own road, which stays the
reference for every verdict. The short road skips Autobahn's per-frame
and per-message hooks, so an app that overrides one of them (see
L{HOOKS}) keeps Autobahn's road throughout.

The per-message work (reading: finding whole frames, unmasking, checking
UTF-8, counting them and calling C{onMessage}; building frames, counting
and sending them, and a hub send's loop over its plain members) is
compiled where C{pip install} could build the optional C{_wss_frames}
module (C{wss_service/fastpaths/_wss_frames.c}); otherwise, or with
C{WSS_SERVICE_PURE_PYTHON=1} in the environment, the Python here does it,
with the same results.
"""

import struct
from importlib.metadata import version

import txaio

from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket import protocol as autobahnProtocol
from autobahn.websocket.protocol import FrameHeader, TrafficStats, WebSocketProtocol

from twisted.internet import main, tcp

from wss_service.fastpaths import compiled as compiledModules
from wss_service.fastpaths.compiled import described
from wss_service.fastpaths.writethrough import WriteThroughServer

try:
    from autobahn.websocket.xormasker import create_xor_masker
except ImportError:  # pragma: no cover - an Autobahn without it
    create_xor_masker = None

OPEN = WebSocketProtocol.STATE_OPEN
CLOSED = WebSocketProtocol.STATE_CLOSED
SHORT_MAX = 0xFFFF
TEXT, BINARY, PING, PONG = 0x81, 0x82, 0x89, 0x8A
MASKED = 0x80
CONTROL_MAX = 125
NATIVE_FROM = 1024 if getattr(autobahnProtocol, "USES_NVX", False) else SHORT_MAX
# What this expects of the compiled module (its API number).
COMPILED_API = 5

# The Autobahn releases the tests cover, and what the short road reads and
# writes of a connection beyond Autobahn's public interface.
TESTED = (26, 26)
AUTOBAHN = (
    "data", "current_frame", "inside_message", "state", "_perMessageCompress", "logFrames",
    "logOctets", "trackedTimings", "applyMask", "maskServerFrames", "autoFragmentSize",
    "maxMessagePayloadSize", "maxFramePayloadSize", "_listeners", "trafficStats",
    "autoPingTimeoutCall", "autoPingRestartOnAnyTraffic", "utf8validateIncoming", "send_queue",
    "_cancelAutoPingTimeoutCall", "_dataReceived", "consumeData", "processData", "_onOpen",
    "processControlFrame", "control_frame_data", "fire",
)
TRAFFIC = (
    "incomingOctetsWireLevel", "incomingOctetsWebSocketLevel", "incomingOctetsAppLevel",
    "incomingWebSocketFrames", "incomingWebSocketMessages", "outgoingWebSocketMessages",
    "outgoingWebSocketFrames", "outgoingOctetsAppLevel", "outgoingOctetsWebSocketLevel",
    "outgoingOctetsWireLevel",
)


def namesAutobahnUses():
    """Every attribute Autobahn's protocol classes define, read or assign."""
    names = set(dir(WebSocketServerProtocol))
    for cls in WebSocketServerProtocol.__mro__:
        for value in vars(cls).values():
            code = getattr(value, "__code__", None)
            if code is not None:
                names.update(code.co_names)
    return names


def missing():
    """Why the short road cannot serve here, or L{None} if it can."""
    release = version("autobahn")
    if not TESTED[0] <= int(release.split(".")[0]) <= TESTED[1]:
        return f"Autobahn {release} is outside the tested {TESTED[0]}-{TESTED[1]}"
    absent = [] if create_xor_masker else ["create_xor_masker"]
    absent += sorted(set(AUTOBAHN) - namesAutobahnUses())
    # Counters keeps them in slots: right where Autobahn keeps plain values.
    absent += [name for name in TRAFFIC
               if name not in vars(TrafficStats()) or described(TrafficStats, [name])]
    if absent:
        return f"Autobahn lacks {', '.join(absent)}"
    return None

HOOKS = (
    "dataReceived", "_dataReceived", "consumeData", "processData", "onFrameBegin", "onFrameData",
    "onFrameEnd",
    "_onMessageBegin", "_onMessageFrameBegin", "_onMessageFrameData",
    "_onMessageFrameEnd", "_onMessageFrame", "_onMessageEnd", "_onMessage",
    "onMessageBegin", "onMessageFrameBegin", "onMessageFrameData",
    "onMessageFrameEnd", "onMessageFrame", "onMessageEnd",
    "sendMessage", "sendFrame", "sendData", "sendPing",
)


def takesShortRoad(app):
    """Whether C{app} leaves every step the short road skips to Autobahn."""
    return all(getattr(app, name) is getattr(WebSocketServerProtocol, name)
               for name in HOOKS)


def unmask(key, masked):
    """
    XOR C{masked} with the repeated 4-byte C{key}: as whole integers, which
    beats a call into Autobahn's native masker below about 1 KiB.
    """
    n = len(masked)
    if n > NATIVE_FROM:
        return create_xor_masker(key, n).process(masked)
    keystream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(masked, "little")
            ^ int.from_bytes(keystream, "little")).to_bytes(n, "little")


def _positive(*limits):
    return min(limit for limit in limits if limit > 0)


class Counters(TrafficStats):
    """
    Autobahn's traffic counters, those the short road counts kept in slots:
    the compiled send adds to them in place.
    """

    __slots__ = TRAFFIC

    @classmethod
    def of(cls, stats):
        """These counters, with the counts of Autobahn's C{stats} so far."""
        counters = cls()
        for name, value in vars(stats).items():
            setattr(counters, name, value)
        return counters


class ShortRoad:
    """
    Mixed in before the app's class. C{_inLimit} and C{_outLimit} are the
    largest payloads that may take the short road, fixed once the
    connection opens from what Autobahn would check; 0 keeps it closed.
    """

    _inLimit = 0
    _outLimit = 0

    def _onOpen(self):
        self.trafficStats = Counters.of(self.trafficStats)
        if not (self._perMessageCompress or self.logFrames or self.logOctets
                or self.trackedTimings):
            if self.applyMask:
                self._inLimit = _positive(SHORT_MAX, self.maxMessagePayloadSize,
                                          self.maxFramePayloadSize)
            if not self.maskServerFrames:
                self._outLimit = _positive(SHORT_MAX, self.maxMessagePayloadSize,
                                           self.autoFragmentSize)
        super()._onOpen()

    def dataReceived(self, data):
        # Autobahn's own formats the arguments of a debug line, even with
        # debug logging off, on every read. With nothing buffered, the
        # frames go straight to the short road; Autobahn's road takes what
        # it leaves, as from processData.
        if (self._inLimit and not self.data and self.state == OPEN
                and self.current_frame is None and not self.inside_message):
            self.trafficStats.incomingOctetsWireLevel += len(data)
            self.data = data
            if not self._takeShortFrames():
                self.consumeData()
        else:
            self._dataReceived(data)

    def processData(self):
        if (self._inLimit and self.current_frame is None and not self.inside_message
                and self.state == OPEN and self._takeShortFrames()):
            return False
        return super().processData()

    def _takeShortFrames(self):
        """
        Deliver the whole short frames at the head of C{self.data}.

        @return: whether Autobahn has nothing to do until more data comes:
            the buffer is empty, ends in part of a short frame, or the
            connection closed.
        """
        # One pass a run of messages; another after each pong among them.
        while True:
            if self._listeners:
                return not self.data
            data = self.data
            frames, waiting = scan(data, self._inLimit, self.utf8validateIncoming)
            position = 0
            try:
                for end, payload, isBinary in frames:
                    if self._listeners:
                        # The app began listening: Autobahn's road tells them.
                        return False
                    position = end
                    length = len(payload)
                    stats = self.trafficStats
                    stats.incomingOctetsWebSocketLevel += length
                    stats.incomingOctetsAppLevel += length
                    stats.incomingWebSocketFrames += 1
                    stats.incomingWebSocketMessages += 1
                    if self.autoPingTimeoutCall and self.autoPingRestartOnAnyTraffic:
                        self._cancelAutoPingTimeoutCall()
                    self.onMessage(payload, isBinary)
                    if self._listeners:
                        self._tellListeners(payload, isBinary)
                    if self.state != OPEN:
                        return self.state == CLOSED
            finally:
                # Even if the app raised: what it was given is consumed.
                self.data = data[position:]
            if waiting or not self._takePong():
                return waiting

    def _tellListeners(self, payload, isBinary):
        """
        Autobahn's road tells listeners of a message after C{onMessage}:
        so those the app began in it hear the message too.
        """
        heard = self.fire("message", payload, is_binary=isBinary)
        txaio.add_callbacks(heard, None, lambda failure: self.log.error(
            "Firing signal 'message' failed: {fail}", fail=failure))

    def _takePong(self):
        """
        Whether a whole masked pong of up to 125 bytes headed C{self.data}:
        if so, it is taken off and given to Autobahn's verdict on it, as
        Autobahn's own road would (checking it against the keepalive's
        ping, scheduling the next, telling the app).
        """
        data = self.data
        if len(data) < 6 or data[0] != PONG or data[1] & MASKED == 0:
            return False
        end = 6 + (data[1] & 0x7F)
        if end > 6 + CONTROL_MAX or len(data) < end:
            return False
        self.data = data[end:]
        self.current_frame = FrameHeader(PONG & 0x0F, True, 0, end - 6, data[2:6])
        self.control_frame_data = [unmask(data[2:6], data[6:end])]
        try:
            self.processControlFrame()
        finally:
            self.current_frame = None
        return True

    def sendPing(self, payload=None):
        """Autobahn's C{sendPing}: the frame built and written at once where the road is open."""
        if (self.state != OPEN or not self._outLimit or self.send_queue
                or (payload and (type(payload) is not bytes or len(payload) > CONTROL_MAX))):
            return super().sendPing(payload)
        built = bytes((PING, len(payload or b""))) + (payload or b"")
        self.trafficStats.outgoingOctetsWireLevel += len(built)
        self.transport.write(built)

    def sendMessage(self, payload, isBinary=False, fragmentSize=None, sync=False,
                    doNotCompress=False):
        if (type(payload) is not bytes or len(payload) > self._outLimit
                or fragmentSize is not None or sync or self.state != OPEN or self.send_queue):
            return super().sendMessage(payload, isBinary, fragmentSize, sync, doNotCompress)
        sendShort(self, frame(payload, isBinary), len(payload))

    def sendPrepared(self, prepared):
        """
        Send a message made once by L{prepare} for many connections: its
        frame's very bytes where the short road is open, else as
        C{sendMessage} would.
        """
        payload, isBinary, built = prepared
        if (built is None or len(payload) > self._outLimit or self.state != OPEN
                or self.send_queue):
            return self.sendMessage(payload, isBinary)
        sendShort(self, built, len(payload))


def pythonSendShort(protocol, built, length):
    """Count a built frame in the connection's traffic and write it."""
    stats = protocol.trafficStats
    stats.outgoingWebSocketMessages += 1
    stats.outgoingWebSocketFrames += 1
    stats.outgoingOctetsAppLevel += length
    stats.outgoingOctetsWebSocketLevel += length
    stats.outgoingOctetsWireLevel += len(built)
    protocol.transport.write(built)


def pythonFrame(payload, isBinary):
    """An unmasked, unfragmented frame of up to L{SHORT_MAX} bytes."""
    length = len(payload)
    first = BINARY if isBinary else TEXT
    if length < 126:
        return bytes((first, length)) + payload
    return struct.pack("!BBH", first, 126, length) + payload


def scan(data, limit, validate):
    """
    C{(frames, waiting)}: the whole short frames (payloads of at most
    C{limit}) at the head of C{data}, as C{[(end, payload, isBinary)]},
    C{end} being where each ends in C{data}, and whether Autobahn has
    nothing to do with what follows them until more data comes. Text that
    is not UTF-8 (when C{validate}) ends them, for Autobahn to judge.
    """
    frames = []
    size = len(data)
    position = 0
    while position < size:
        waiting, start, length = _shortFrameAt(data, position, size, limit)
        if start is None:
            return frames, waiting
        end = start + length
        payload = unmask(data[start - 4:start], data[start:end])
        first = data[position]
        if first == TEXT and validate and not _isUtf8(payload):
            return frames, False
        frames.append((end, payload, first == BINARY))
        position = end
    return frames, True


def _shortFrameAt(data, position, size, limit):
    """
    C{(waiting, start, length)}: C{start} of the payload, or L{None}
    with C{waiting} telling whether the frame may still turn out short.
    """
    if size - position < 2:
        return True, None, 0
    first, second = data[position], data[position + 1]
    if (first != TEXT and first != BINARY) or not second & MASKED:
        return False, None, 0
    length = second & 0x7F
    if length < 126:
        start = position + 6
    elif length == 126:
        start = position + 8
        if size < start:
            return True, None, 0
        length = struct.unpack_from("!H", data, position + 2)[0]
        if length < 126:
            return False, None, 0
    else:
        return False, None, 0
    if length > limit:
        return False, None, 0
    if size < start + length:
        # Autobahn checks the UTF-8 of text as it comes, failing fast.
        return first == BINARY, None, 0
    return True, start, length


compiled, notCompiled = compiledModules.load("_wss_frames", COMPILED_API)
# The short road's per-message methods, in Python: the road where the
# module is not compiled, and what its C methods do.
pythonDataReceived = ShortRoad.dataReceived
pythonTakeShortFrames = ShortRoad._takeShortFrames
pythonSendMessage = ShortRoad.sendMessage
frame = compiled.frame if compiled else pythonFrame
# Compiled, a send writes through (writethrough.py's write, done in C)
# without a Python call where the transport is a WriteThroughServer.
sendShort = compiled.sendShort if compiled else pythonSendShort
# C{sendPrepared(protocol, prepared)}: the method, without its Python
# frames where compiled.
sendPrepared = compiled.sendPrepared if compiled else ShortRoad.sendPrepared
if compiled:
    compiled.configure(OPEN, CLOSED, ShortRoad, Counters, WriteThroughServer,
                       tcp.Server.write, main.CONNECTION_DONE, main.CONNECTION_LOST)
    # The reads of the transport whose writes go through are C too, and
    # the short road's own up to the app's onMessage and from its
    # sendMessage: no Python frame between the event loop and the app.
    WriteThroughServer.doRead = compiled.doRead
    ShortRoad.dataReceived = compiled.dataReceived
    ShortRoad._takeShortFrames = compiled._takeShortFrames
    ShortRoad.sendMessage = compiled.sendMessage


def pythonSendAll(clients, clientIds, prepared):
    """
    C{(count, others, failures)}, as the compiled C{sendAll}, which sends to
    the plain short-road members itself: here it leaves every one to the
    caller's loop.
    """
    return 0, clientIds, ()


sendAll = compiled.sendAll if compiled else pythonSendAll


def prepare(payload, isBinary):
    """
    C{(payload, isBinary, frame)} for L{ShortRoad.sendPrepared}; the frame
    is L{None} for a payload too long for the short road.
    """
    return payload, isBinary, frame(payload, isBinary) if len(payload) <= SHORT_MAX else None


def _isUtf8(payload):
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
