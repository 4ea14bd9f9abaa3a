"""
The short road for frames gives the same result as Autobahn's own road:
the same messages, the same bytes back, the same close, the same counters,
however the frames are cut into reads.
"""

import struct

from autobahn.websocket.protocol import WebSocketProtocol
from twisted.internet.testing import StringTransport
from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.trial.unittest import TestCase

from tests.support.compiled import patchMethod
from tests.support.handshake import InMemory, closeCode, serverFrames
from tests.test_protocol import factory
from wss_service.apps import EchoProtocol
from wss_service.factory import ServiceFactory, Settings
from wss_service.fastpaths import FastPaths, frames
from wss_service.fastpaths.frames import ShortRoad, prepare, takesShortRoad, unmask
from wss_service.hub.local import Registry

# Run by two classes, one per road (see test_compiled.PythonRoadTests).
EXAMPLES = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.differing_executors])
COUNTERS = ("incomingWebSocketMessages", "incomingWebSocketFrames",
            "incomingOctetsWireLevel", "outgoingWebSocketMessages",
            "outgoingWebSocketFrames", "outgoingOctetsWireLevel")


class Recorder(EchoProtocol):
    def onOpen(self):
        self.received = []
        self.pongs = []

    def onMessage(self, payload, isBinary):
        self.received.append((payload, isBinary))
        super().onMessage(payload, isBinary)

    def onPong(self, payload):
        self.pongs.append(payload)


class AutobahnRoad(Recorder):
    """Overrides a step the short road skips, so it keeps Autobahn's road."""

    def onMessageFrameData(self, payload):
        super().onMessageFrameData(payload)


def frame(first, payload, key, masked=True, length=None):
    """A frame with any first byte, mask and length field, valid or not."""
    length = len(payload) if length is None else length
    second = 0x80 if masked else 0
    if length < 126:
        header = bytes((first, second | length))
    elif length < 65536:
        header = struct.pack("!BBH", first, second | 126, length)
    else:
        header = struct.pack("!BBQ", first, second | 127, length)
    if not masked:
        return header + payload
    return header + key + unmask(key, payload)


keys = st.binary(min_size=4, max_size=4)
payloads = st.one_of(st.binary(max_size=140), st.text(max_size=60).map(str.encode),
                     st.binary(min_size=120, max_size=300))
whole = st.builds(frame, st.sampled_from([0x81, 0x82]), payloads, keys)
odd = st.one_of(
    st.builds(frame, st.sampled_from([0x01, 0x02, 0x00, 0x80]), payloads, keys),
    st.builds(frame, st.sampled_from([0x89, 0x8A]), st.binary(max_size=20), keys),
    st.builds(frame, st.just(0x88), st.just(struct.pack("!H", 1000)), keys),
    st.builds(frame, st.sampled_from([0xC1, 0x83, 0x8B, 0x09]), payloads, keys),
    st.builds(frame, st.sampled_from([0x81, 0x82]), payloads, keys, masked=st.just(False)),
    st.builds(frame, st.sampled_from([0x81, 0x82]), st.binary(max_size=10), keys,
              length=st.just(126)),
    st.binary(min_size=1, max_size=8),
)
streams = st.lists(st.one_of(whole, whole, whole, odd), min_size=1, max_size=12)


def raisedBy(call, *arguments):
    """The type of what C{call(*arguments)} raised, or L{None}."""
    try:
        call(*arguments)
    except Exception as e:
        return type(e)
    return None


def cut(data, points):
    """C{data} in pieces at C{points}."""
    edges = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in zip(edges, edges[1:])]


class ShortRoadTests(InMemory, TestCase):
    def exchange(self, app, chunks, **limits):
        protocol, transport = self.handshake(factory(app, clock=self.clock, **limits))
        transport.clear()
        for chunk in chunks:
            protocol.dataReceived(chunk)
        stats = protocol.trafficStats
        return (protocol.received, transport.value(), transport.disconnecting,
                protocol.state, [getattr(stats, name) for name in COUNTERS])

    def test_roads(self):
        self.assertIn(ShortRoad, factory(Recorder).protocol.__mro__)
        self.assertNotIn(ShortRoad, factory(AutobahnRoad).protocol.__mro__)
        self.assertTrue(takesShortRoad(EchoProtocol))

    @EXAMPLES
    @given(streams, st.lists(st.integers(min_value=0), max_size=6),
           st.sampled_from([{}, {"maxMessageSize": 100}, {"maxFrameSize": 50}]))
    def test_sameAsAutobahn(self, frames, points, limits):
        chunks = cut(b"".join(frames), points)
        short = self.exchange(Recorder, chunks, **limits)
        self.assertEqual(short, self.exchange(AutobahnRoad, chunks, **limits))

    def test_largeFrames(self):
        key = b"\x01\x02\x03\x04"
        for size in (125, 126, 4096, 65535, 65536):
            data = frame(0x82, bytes(range(256)) * (size // 256) + b"x" * (size % 256), key)
            short = self.exchange(Recorder, [data], maxMessageSize=0, maxFrameSize=0)
            self.assertEqual(short, self.exchange(AutobahnRoad, [data],
                                             maxMessageSize=0, maxFrameSize=0), size)
            self.assertEqual(len(short[0][0][0]), size)

    def test_listenersStillHear(self):
        heard = []

        class Listened(Recorder):
            def onOpen(self):
                super().onOpen()
                self.on("message", lambda payload, is_binary: heard.append(payload))

        self.exchange(Listened, [frame(0x81, b"tom", b"abcd")])
        self.assertEqual(heard, [b"tom"])

    def test_listeningFromOnMessage(self):
        """An app that begins listening in onMessage hears the next message of the same read."""
        class StartsListening(Recorder):
            def onMessage(self, payload, isBinary):
                super().onMessage(payload, isBinary)
                if payload == b"listen":
                    self.on("message", lambda payload, is_binary: self.heard.append(payload))

        class StartsListeningOnAutobahnRoad(StartsListening, AutobahnRoad):
            pass

        data = frame(0x81, b"listen", b"abcd") + frame(0x81, b"jerry", b"abcd")
        outcomes = []
        for app in (StartsListening, StartsListeningOnAutobahnRoad):
            app.heard = []
            outcomes.append((self.exchange(app, [data]), app.heard))
        self.assertEqual(outcomes[0], outcomes[1])
        self.assertIn(b"jerry", outcomes[0][1])

    def test_appClosingLeavesTheRestToAutobahn(self):
        """What follows a message the app closed on is read at once: here the client's close."""
        class Closing(Recorder):
            def onMessage(self, payload, isBinary):
                super().onMessage(payload, isBinary)
                self.sendClose(1000)

        class ClosingOnAutobahnRoad(Closing, AutobahnRoad):
            pass

        data = frame(0x81, b"bye", b"abcd") + frame(0x88, struct.pack("!H", 1000), b"abcd")
        outcomes = [self.exchange(app, [data]) for app in (Closing, ClosingOnAutobahnRoad)]
        self.assertEqual(outcomes[0], outcomes[1])
        self.assertTrue(outcomes[0][2], "the closing handshake ended")

    def test_messageInsideAFragmentedOne(self):
        """A new message before the last one's final fragment fails the connection."""
        chunks = [frame(0x01, b"to", b"abcd"), frame(0x81, b"m", b"abcd")]
        short = self.exchange(Recorder, chunks)
        self.assertEqual(short, self.exchange(AutobahnRoad, chunks))
        self.assertEqual((short[0], short[3]), ([], WebSocketProtocol.STATE_CLOSING))
        self.assertEqual(closeCode(short[1]), 1002)

    def test_compressionTakesAutobahnRoad(self):
        protocol, transport = self.handshake(
            factory(Recorder, clock=self.clock, compression=True),
            Sec_WebSocket_Extensions="permessage-deflate")
        self.assertIn(b"permessage-deflate", transport.value())
        self.assertEqual((protocol._inLimit, protocol._outLimit), (0, 0))

    def test_appRaisingConsumesItsFrame(self):
        class Raising(Recorder):
            def onMessage(self, payload, isBinary):
                if payload == b"boom":
                    raise ValueError(payload)
                super().onMessage(payload, isBinary)

        class RaisingOnAutobahnRoad(Raising, AutobahnRoad):
            pass

        tom = frame(0x81, b"tom", b"abcd")
        left = []
        for app in (Raising, RaisingOnAutobahnRoad):
            protocol, _ = self.handshake(factory(app, clock=self.clock))
            self.assertRaises(ValueError, protocol.dataReceived, frame(0x81, b"boom", b"abcd") + tom)
            left.append(protocol.data)
        self.assertEqual(left, [tom, tom])


class KeepaliveTests(InMemory, TestCase):
    """
    The keepalive's pings go out, and their pongs come in, on the short
    road as on Autobahn's (with txaio's timers: no fast path at all).
    """

    ROADS = (
        lambda clock: factory(Recorder, clock=clock, pingInterval=20, pingTimeout=10),
        lambda clock: factory(AutobahnRoad, clock=clock, pingInterval=20, pingTimeout=10),
        lambda clock: ServiceFactory(Recorder, Settings(pingInterval=20, pingTimeout=10),
                                     reactor=clock, fast=FastPaths()),
    )
    KEY = b"\x0f\xf0\x5a\xa5"
    ANSWERS = {
        "pong": lambda ping: frame(0x8A, ping, KeepaliveTests.KEY),
        "pong, then a message": lambda ping: (frame(0x8A, ping, KeepaliveTests.KEY)
                                              + frame(0x81, b"tom", KeepaliveTests.KEY)),
        "a message": lambda ping: frame(0x81, b"tom", KeepaliveTests.KEY),
        "a message, then pong": lambda ping: (frame(0x82, b"tom", KeepaliveTests.KEY)
                                              + frame(0x8A, ping, KeepaliveTests.KEY)),
        "a stray pong": lambda ping: frame(0x8A, b"stray", KeepaliveTests.KEY),
        "an empty pong, then pong": lambda ping: (frame(0x8A, b"", KeepaliveTests.KEY)
                                                  + frame(0x8A, ping, KeepaliveTests.KEY)),
        "pong, then a ping": lambda ping: (frame(0x8A, ping, KeepaliveTests.KEY)
                                           + frame(0x89, b"hi", KeepaliveTests.KEY)),
        "an unmasked pong": lambda ping: (frame(0x8A, ping, KeepaliveTests.KEY, masked=False)
                                          + frame(0x81, b"tom", KeepaliveTests.KEY)),
        "a long pong": lambda ping: frame(0x8A, ping * 11, KeepaliveTests.KEY),
        "pong, then a close": lambda ping: (frame(0x8A, ping, KeepaliveTests.KEY)
                                            + frame(0x88, struct.pack("!H", 1000),
                                                    KeepaliveTests.KEY)),
    }

    def keepalive(self, road, answer, point, restartOnAnyTraffic=True):
        """The ping, the answer cut at C{point}, then the rest of the timeout and a ping more."""
        protocol, transport = self.handshake(road(self.clock))
        protocol.autoPingRestartOnAnyTraffic = restartOnAnyTraffic
        transport.clear()
        self.clock.advance(20)
        (opcode, ping), = serverFrames(transport.value())
        data = answer(ping)
        events = [(opcode, transport.value().replace(ping, b"PING"))]
        transport.clear()
        for chunk in (data[:point], data[point:]):
            protocol.dataReceived(chunk)
        events.append((protocol.autoPingPending is None, protocol.autoPingTimeoutCall is None,
                       protocol.autoPingPendingCall is not None))
        for _ in range(2):
            self.clock.advance(10.5)
            events.append([(o, p if o != 9 else len(p)) for o, p in serverFrames(transport.value())])
            transport.clear()
        stats = protocol.trafficStats
        events.append((protocol.received, [p.replace(ping, b"PING") for p in protocol.pongs],
                       transport.disconnecting, protocol.state,
                       [getattr(stats, name) for name in COUNTERS]))
        return events

    def test_sameOnEveryRoad(self):
        for name, answer in self.ANSWERS.items():
            length = len(answer(bytes(12)))
            for point in range(length + 1):
                outcomes = [self.keepalive(road, answer, point) for road in self.ROADS]
                self.assertEqual(outcomes[0], outcomes[1], (name, point))
                self.assertEqual(outcomes[0], outcomes[2], (name, point))

    def test_anyTrafficRestartsOnlyWhereSet(self):
        """A message stops the pong's timeout only with autoPingRestartOnAnyTraffic."""
        answer = self.ANSWERS["a message"]
        byRestart = []
        for restart in (True, False):
            outcomes = [self.keepalive(road, answer, 100, restart) for road in self.ROADS]
            self.assertEqual(outcomes[0], outcomes[1], restart)
            self.assertEqual(outcomes[0], outcomes[2], restart)
            byRestart.append(outcomes[0][-1][2])
        self.assertEqual(byRestart, [False, True], "disconnected by the timeout")

    def test_pongsTakeTheShortRoad(self):
        protocol, transport = self.handshake(self.ROADS[0](self.clock))
        self.clock.advance(20)
        (_, ping), = serverFrames(transport.value())
        self.patch(WebSocketProtocol, "processData", lambda p: self.fail("Autobahn's road"))
        protocol.dataReceived(frame(0x8A, ping, self.KEY) + frame(0x81, b"tom", self.KEY))
        self.assertEqual((protocol.pongs, protocol.received), ([ping], [(b"tom", False)]))

    def test_sendPing(self):
        for send in (lambda p: p.sendPing(), lambda p: p.sendPing(b""),
                     lambda p: p.sendPing(b"x" * 125), lambda p: p.sendPing(b"x" * 126),
                     lambda p: p.sendPing(bytearray(b"ba")),
                     lambda p: (p.send_queue.append((b"\x81\x01q", False)), p.sendPing(b"q")),
                     lambda p: (p.sendClose(1000), p.sendPing(b"late"))):
            outcomes = []
            for road in self.ROADS:
                protocol, transport = self.handshake(road(self.clock))
                transport.clear()
                raised = raisedBy(send, protocol)
                outcomes.append((transport.value(), raised,
                                 protocol.trafficStats.outgoingOctetsWireLevel))
            self.assertEqual(outcomes[0], outcomes[1])
            self.assertEqual(outcomes[0], outcomes[2])


class PreparedTests(InMemory, TestCase):
    """A message framed once for many connections."""

    def sent(self, send, app=Recorder, **limits):
        """What one connection writes or raises, and its counters, for C{send(protocol)}."""
        protocol, transport = self.handshake(factory(app, clock=self.clock, **limits),
                                             Sec_WebSocket_Extensions="permessage-deflate")
        transport.clear()
        raised = raisedBy(send, protocol)
        stats = protocol.trafficStats
        return transport.value(), [getattr(stats, name) for name in COUNTERS], raised

    def test_sameAsSendMessage(self):
        for size in (0, 125, 126, 65535, 65536):
            for isBinary in (False, True):
                payload = b"x" * size
                for limits in ({"maxMessageSize": 0, "maxFrameSize": 0},
                               {"maxMessageSize": 100}, {"compression": True}):
                    expected = self.sent(lambda p: p.sendMessage(payload, isBinary), **limits)
                    for send in (lambda p: p.sendPrepared(prepare(payload, isBinary)),
                                 lambda p: frames.sendPrepared(p, prepare(payload, isBinary))):
                        self.assertEqual(self.sent(send, **limits), expected,
                                         (size, isBinary, limits))

    def test_sendMessageAsAutobahn(self):
        """Every way of calling sendMessage, right or wrong, on and off the short road."""
        calls = [
            ((b"tom",), {}), ((b"tom", True), {}), ((b"tom",), {"isBinary": True}),
            ((), {"payload": b"tom", "isBinary": True}), ((b"x" * 300, False, 100), {}),
            ((b"tom",), {"fragmentSize": 2}), ((b"tom",), {"sync": True}),
            ((b"tom", False, None, False, True), {}), ((b"tom",), {"doNotCompress": True}),
            ((b"x" * 65535,), {}), ((b"x" * 65536,), {}), ((bytearray(b"tom"),), {}),
            (("tom",), {}), ((), {}), ((b"tom",), {"binary": True}),
            ((b"tom", True), {"isBinary": False}), ((b"tom", False, None, False, False, 1), {}),
        ]
        befores = {
            "open": lambda p: None,
            "closing": lambda p: p.sendClose(1000),
            "queued": lambda p: p.send_queue.append((b"\x81\x01q", False)),
        }
        for arguments, keywords in calls:
            for limits in ({"maxMessageSize": 0, "maxFrameSize": 0}, {"compression": True}):
                for name, before in befores.items():
                    outcomes = [
                        self.sent(lambda p: (before(p), p.sendMessage(*arguments, **keywords)),
                                  app, **limits)
                        for app in (Recorder, AutobahnRoad)]
                    self.assertEqual(outcomes[0], outcomes[1],
                                     (arguments, keywords, limits, name))

    def test_sameAsSendMessageOffTheShortRoad(self):
        def closing(protocol):
            protocol.state = protocol.STATE_CLOSING

        def queueing(protocol):
            protocol.send_queue.append((b"\x81\x01q", False))

        calls, sendMessage = [], ShortRoad.sendMessage
        patchMethod(self, ShortRoad, "sendMessage",
                    lambda p, *a: (calls.append(a), sendMessage(p, *a))[1])
        for change in (closing, queueing):
            expected = self.sent(lambda p: (change(p), p.sendMessage(b"late", False)))
            for send in (lambda p: p.sendPrepared(prepare(b"late", False)),
                         lambda p: frames.sendPrepared(p, prepare(b"late", False))):
                del calls[:]
                self.assertEqual(self.sent(lambda p: (change(p), send(p))), expected, change)
                self.assertEqual(calls, [(b"late", False)], "sendMessage decides")

    def test_everyKindOfMember(self):
        """
        A send to members of every kind: each gets what C{deliver}
        promises, on either road (compiled, C{sendAll} takes the plain ones).
        """
        class Framing:
            def deliver(self, data, positions):
                kinds["framing"][1].write(b"framed:" + data.encode())

        def closing(p):
            p.state = p.STATE_CLOSING

        def backedUp(p):
            p.backedUp = True

        def framing(p):
            p.hubFraming = Framing()

        def queueing(p):
            p.send_queue.append((b"\x81\x01q", False))

        def raising(p):
            p.transport.write = lambda data: 1 / 0

        changes = {"plain": None, "plain2": None, "closing": closing, "backedUp": backedUp,
                   "framing": framing, "queueing": queueing, "raising": raising,
                   "autobahnRoad": None}
        registry, kinds = Registry(), {}
        for name, change in changes.items():
            app = AutobahnRoad if name == "autobahnRoad" else Recorder
            protocol, transport = self.handshake(factory(app, clock=self.clock))
            transport.clear()
            if change is not None:
                change(protocol)
            registry.add(name, protocol)
            kinds[name] = protocol, transport
        registry.add("gone", None)
        left, sendAll = [], frames.sendAll

        def recording(*arguments):
            count, others, failures = sendAll(*arguments)
            left.extend(others)
            return count, others, failures

        self.patch(frames, "sendAll", recording)
        self.assertEqual(registry.deliver(list(changes) + ["gone", "absent"], "hi"), 5)
        everyone = list(changes) + ["gone", "absent"]
        self.assertEqual(left, everyone if sendAll is frames.pythonSendAll else [
            "closing", "backedUp", "framing", "autobahnRoad", "gone", "absent"],
            "compiled, the loop is left only what the short road does not send")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.clock.advance(1)  # Autobahn's send queue drains on the reactor's turns.
        self.assertEqual({name: transport.value() for name, (_, transport) in kinds.items()}, {
            "plain": b"\x81\x02hi", "plain2": b"\x81\x02hi", "closing": b"", "backedUp": b"",
            "framing": b"framed:hi", "queueing": b"\x81\x01q\x81\x02hi", "raising": b"",
            "autobahnRoad": b"\x81\x02hi"})
        self.assertEqual((registry.delivered, dict(registry.skipped)),
                         (5, {"closing": 3, "backed_up": 1, "error": 1}))
        sent = [kinds[name][0].trafficStats.outgoingWebSocketMessages
                for name in ("plain", "raising", "closing")]
        self.assertEqual(sent, [1, 1, 0], "counted as sendMessage counts")

    def test_countsPastAnyMachineInteger(self):
        protocol, transport = self.handshake(factory(Recorder, clock=self.clock))
        stats = protocol.trafficStats
        stats.outgoingOctetsWireLevel = 2 ** 70
        stats.outgoingOctetsAppLevel = 2 ** 63 - 1
        frames.sendPrepared(protocol, prepare(b"hi", False))
        self.assertEqual((stats.outgoingOctetsWireLevel, stats.outgoingOctetsAppLevel),
                         (2 ** 70 + 4, 2 ** 63 + 1))

    def test_aCountHeldElsewhereStaysAsItWas(self):
        """A counter's value that anything holds stays as it was when the counter moves on."""
        protocol, transport = self.handshake(factory(Recorder, clock=self.clock))
        stats = protocol.trafficStats
        stats.outgoingWebSocketMessages = int("1000")
        stats.outgoingOctetsWireLevel = int(str(2 ** 30 - 5))
        held = stats.outgoingWebSocketMessages
        frames.sendPrepared(protocol, prepare(b"hi", False))
        self.assertEqual((held, stats.outgoingWebSocketMessages), (1000, 1001))
        del held
        for _ in range(2):
            frames.sendPrepared(protocol, prepare(b"hi", False))
        self.assertEqual((stats.outgoingWebSocketMessages, stats.outgoingOctetsWireLevel),
                         (1003, 2 ** 30 + 7))

    def test_readAsPythonReadsThem(self):
        """
        A member's attributes are read as Python reads them: a property of
        its class before the member's own dict, also when the class changes
        between two sends.
        """
        registry = Registry()
        protocol, transport = self.handshake(factory(Recorder, clock=self.clock))
        self.assertIsNot(type(protocol), type(self.handshake(factory(Recorder))[0]))
        transport.clear()
        registry.add("member", protocol)
        self.assertEqual(registry.deliver(["member"], "one"), 1)
        self.assertIn("state", vars(protocol))
        type(protocol).state = property(lambda p: p.STATE_CLOSING, lambda p, value: None)
        try:
            self.assertEqual(protocol.state, protocol.STATE_CLOSING)
            self.assertEqual(registry.deliver(["member"], "two"), 0)
        finally:
            del type(protocol).state
        self.assertEqual(serverFrames(transport.value()), [(1, b"one")])
        self.assertEqual(protocol.trafficStats.outgoingWebSocketMessages, 1)

    def test_aClassDescriptorIsCalled(self):
        """A member's attribute that only its class has is its descriptor's value."""
        class Plain:
            """Says no hub framing, as the class default does, through C{__get__}."""

            def __get__(self, instance, owner):
                return None

        registry = Registry()
        protocol, transport = self.handshake(factory(Recorder, clock=self.clock))
        self.assertNotIn("hubFraming", vars(protocol))
        type(protocol).hubFraming = Plain()
        registry.add("member", protocol)
        count, others, failures = frames.sendAll(registry.clients, ["member"],
                                                 prepare(b"hi", False))
        self.assertEqual((count, others, failures),
                         (0, ["member"], ()) if frames.sendAll is frames.pythonSendAll
                         else (1, [], []))

    def test_aChangeBetweenSendsIsSeen(self):
        """
        A member changed between two sends gets the second as one changed
        before the first would (compiled, C{sendAll} remembers what it read
        of a member while nothing of it changes): whatever is changed, and
        however, by code run often enough for Python to specialize it too.
        """
        class Framing:
            def deliver(self, data, positions):
                p.transport.write(b"framed:" + data.encode())

        def often(p, name, value):
            """C{p.name = value}, after storing the same a thousand times from one place."""
            code = {}
            exec(f"def store(p, value):\n    p.{name} = value", code)
            for i in range(1000):
                code["store"](p, value if i == 999 else getattr(p, name))

        changes = {
            "unchanged": lambda p: None,
            "closing": lambda p: often(p, "state", p.STATE_CLOSING),
            "backedUp": lambda p: often(p, "backedUp", True),
            "framing": lambda p: often(p, "hubFraming", Framing()),
            "shortLimit": lambda p: often(p, "_outLimit", 1),
            "transport": lambda p: often(p, "transport", StringTransport()),
            "counters": lambda p: often(p, "trafficStats", type(p.trafficStats)()),
            "queueing": lambda p: p.send_queue.append((b"\x81\x01q", False)),
            "raising": lambda p: setattr(p.transport, "write", lambda data: 1 / 0),
            "classBackedUp": lambda p: self.patch(type(p), "backedUp", True),
            "gone": lambda p: registry.remove("member"),
        }
        calls, sendMessage = [], ShortRoad.sendMessage
        patchMethod(self, ShortRoad, "sendMessage",
                    lambda p, *a: (calls.append(a), sendMessage(p, *a))[1])
        compiled = frames.compiled if frames.sendAll is not frames.pythonSendAll else None
        for name, change in changes.items():
            outcomes = []
            for before in (True, False):
                registry = Registry()
                p, transport = self.handshake(factory(Recorder, clock=self.clock))
                self.assertNotIn("backedUp", vars(p), "the class's")
                registry.add("member", p)
                if not before:
                    self.assertEqual(registry.deliver(["member"], "one"), 1)
                remembered = compiled.remembered() if compiled else 0
                change(p)
                p.transport.clear()
                sent = p.trafficStats.outgoingWebSocketMessages
                del calls[:]
                delivered = registry.deliver(["member"], "two")
                self.clock.advance(1)
                outcomes.append((delivered, p.transport.value(),
                                 p.trafficStats.outgoingWebSocketMessages - sent, list(calls),
                                 len(self.flushLoggedErrors(ZeroDivisionError))))
            self.assertEqual(outcomes[0], outcomes[1], name)
            if compiled and compiled.REMEMBERING and name == "unchanged":
                self.assertEqual(compiled.remembered(), remembered + 1, "remembered")
        self.assertEqual(outcomes[0], (0, b"", 0, [], 0))

    def test_aValueOfChangingTruthIsReadAgain(self):
        """A member's value whose truth can change without a store is read at every send."""
        class Flag:
            up = False

            def __bool__(self):
                return self.up

        registry, flag = Registry(), Flag()
        protocol, transport = self.handshake(factory(Recorder, clock=self.clock))
        protocol.backedUp = flag
        registry.add("member", protocol)
        self.assertEqual(registry.deliver(["member"], "one"), 1)
        flag.up = True
        self.assertEqual(registry.deliver(["member"], "two"), 0)

    def test_oneFrameForEveryConnection(self):
        registry = Registry()
        written = []
        for clientId in "abc":
            protocol, transport = self.handshake(factory(Recorder, clock=self.clock))
            transport.write = written.append
            registry.add(clientId, protocol)
        self.assertEqual(registry.deliver(registry.targets("all"), "hé"), 3)
        self.assertEqual(written, [b"\x81\x03h\xc3\xa9"] * 3)
        self.assertTrue(written[0] is written[1] is written[2], "the same bytes, built once")
