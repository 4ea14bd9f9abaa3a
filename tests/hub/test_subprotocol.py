"""wss-hub.v1 in memory: real protocols over StringTransport, the in-memory hub with history."""

import base64
import json

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from tests.support.handshake import InMemory, clientFrame, serverFrames
from tests.test_protocol import factory
from wss_service.apps import EchoProtocol, OkProtocol
from wss_service.hub.errors import HubUnavailable
from wss_service.hub.history import History, Page
from wss_service.hub.hub import Hub
from wss_service.hub.subprotocol import BadResume, Framing, parseResume, pingAll


def resumeOf(positions):
    return base64.urlsafe_b64encode(json.dumps(positions).encode()).decode().rstrip("=")


class ResumeTests(TestCase):
    def test_parse(self):
        self.assertEqual(parseResume(resumeOf({"group:chat": {"epoch": "e1", "offset": 17}})),
                         {"group:chat": ("e1", 17)})
        self.assertEqual(parseResume("e30"), {})
        for bad in ["%%%", "bm90IGpzb24", resumeOf([1]), resumeOf({"all": {"epoch": 1}}),
                    resumeOf({"all": {"epoch": "e", "offset": -1}}),
                    resumeOf({"all": {"epoch": "e", "offset": True}}),
                    resumeOf({f"group:{i}": {"epoch": "e", "offset": 0} for i in range(101)})]:
            self.assertRaises(BadResume, parseResume, bad)


class Writer:
    """What Framing uses of a protocol: sendMessage, onMessage, sendCloseFrame."""

    def __init__(self):
        self.frames = []

    def sendMessage(self, payload, isBinary=False):
        self.frames.append(json.loads(payload))


class FramingTests(TestCase):
    """The order promise: a stream's replay comes before any newer message of it, each once."""

    def setUp(self):
        self.writer = Writer()
        self.reads = {}

    def framing(self, resume):
        framing = Framing(self.writer, resume)
        framing.opened = True
        return framing

    def read(self, stream, since, epoch):
        self.reads[stream] = defer.Deferred()
        return self.reads[stream]

    def messages(self):
        return [(f["data"], f.get("offset")) for f in self.writer.frames
                if f["type"] == "message"]

    def test_replayBeforeNewerAndEachOnce(self):
        framing = self.framing({"group:g": ("e1", 2)})
        framing.enter(["group:g"], self.read)
        # Live messages while the history is read: 4 is also in the replay.
        framing.deliver("four", [["group:g", "e1", 4]])
        framing.deliver("five", [["group:g", "e1", 5]])
        framing.deliver("elsewhere", [])
        self.reads["group:g"].callback(Page("e1", 4, [(3, "three", [["group:g", "e1", 3]], 7),
                                                      (4, "four", [["group:g", "e1", 4]], 8)]))
        framing.deliver("four", [["group:g", "e1", 4]])
        # Held while entering, then in order, each once.
        self.assertEqual(self.messages(), [("three", 3), ("four", 4), ("five", 5),
                                           ("elsewhere", None)])
        recovered = [f for f in self.writer.frames if f["type"] == "recovered"]
        self.assertEqual(recovered, [{"type": "recovered", "stream": "group:g",
                                      "recovered": True, "missed": 2, "lost": 0,
                                      "epoch": "e1", "offset": 4}])

    def test_trimmedAndEpochChanged(self):
        framing = self.framing({"group:a": ("e1", 1), "group:b": ("old", 9)})
        framing.enter(["group:a", "group:b"], self.read)
        self.reads["group:a"].callback(Page("e1", 10, [(9, "nine", [["group:a", "e1", 9]], 1),
                                                       (10, "ten", [["group:a", "e1", 10]], 2)]))
        self.reads["group:b"].callback(Page("new", 3, []))
        recovered = {f["stream"]: f for f in self.writer.frames if f["type"] == "recovered"}
        self.assertEqual((recovered["group:a"]["recovered"], recovered["group:a"]["missed"],
                          recovered["group:a"]["lost"]), (False, 9, 7))
        self.assertEqual((recovered["group:b"]["recovered"], recovered["group:b"]["missed"],
                          recovered["group:b"]["lost"], recovered["group:b"]["epoch"]),
                         (False, None, None, "new"))

    def test_enteredAgainOnceRedisIsBack(self):
        framing = self.framing({"group:g": ("e1", 1)})
        framing.enter(["group:g"], self.read)
        self.reads["group:g"].errback(HubUnavailable("Redis is unreachable"))
        framing.deliver("two", [["group:g", "e1", 2]])
        self.assertEqual(self.writer.frames, [])
        framing.retry(self.read)
        self.reads["group:g"].callback(Page("e1", 2, [(2, "two", [["group:g", "e1", 2]], 5)]))
        self.assertEqual(self.messages(), [("two", 2)])
        self.assertEqual(self.writer.frames[-1]["recovered"], True)

    def test_replayMergedInSendingOrder(self):
        # Two streams resumed together: the replay follows the order of sending.
        framing = self.framing({"group:g": ("e", 0), "uid:u": ("e", 0)})
        framing.enter(["uid:u", "group:g"], self.read)
        self.reads["uid:u"].callback(Page("e", 2, [(1, "second", [["uid:u", "e", 1]], 2),
                                                   (2, "fourth", [["uid:u", "e", 2]], 4)]))
        self.reads["group:g"].callback(Page("e", 2, [(1, "first", [["group:g", "e", 1]], 1),
                                                     (2, "third", [["group:g", "e", 2]], 3)]))
        self.assertEqual([m for m, _ in self.messages()], ["first", "second", "third", "fourth"])

    def test_replayShowsOnlyItsOwnStreams(self):
        framing = self.framing({"group:a": ("e", 0)})
        framing.enter(["group:a"], self.read)
        both = [["group:a", "e", 1], ["group:secret", "e", 7]]
        self.reads["group:a"].callback(Page("e", 1, [(1, "to a and secret", both, 1)]))
        message = self.writer.frames[0]
        self.assertEqual((message["stream"], message.get("also")), ("group:a", None))

    def test_positionWhenNotResuming(self):
        framing = self.framing({})
        framing.enter(["all"], self.read)
        framing.enter(["all"], self.read)
        self.reads["all"].callback(Page("e", 7, []))
        self.assertEqual(self.writer.frames, [{"type": "position", "stream": "all",
                                               "epoch": "e", "offset": 7}])


class SubprotocolTests(InMemory, TestCase):
    def setUp(self):
        super().setUp()
        self.hub = Hub(self.clock, history=History(("group:*", "uid:*", "all")))
        self.factory = factory(EchoProtocol, clock=self.clock, pingInterval=0)
        self.factory.hub = self.hub

    def open(self, resume=None, app=None):
        target = self.factory if app is None else factory(app, clock=self.clock)
        if app is not None:
            target.hub = self.hub
        path = "/wss" + (f"?resume={resume}" if resume is not None else "")
        protocol, transport = self.handshake(target, path=path,
                                             Sec_WebSocket_Protocol="wss-hub.v1")
        return protocol, transport

    def frames(self, transport):
        frames = [json.loads(p) for _, p in serverFrames(transport.value())]
        transport.clear()
        return frames

    def test_appAndHubFramed(self):
        protocol, transport = self.open()
        self.assertIn(b"Sec-WebSocket-Protocol: wss-hub.v1", transport.value())
        self.assertEqual(self.frames(transport), [{"type": "position", "stream": "all",
                                                   "epoch": self.frames_epoch(), "offset": 0}])
        protocol.dataReceived(clientFrame(b'{"type": "message", "data": "h\\u00e9"}'))
        self.assertEqual(self.frames(transport), [{"type": "message", "data": "hé"}])
        protocol.dataReceived(clientFrame(b'{"type": "message", "data_base64": "AP8="}'))
        self.assertEqual(self.frames(transport), [{"type": "message", "data_base64": "AP8="}])
        self.successResultOf(self.hub.joinGroup(protocol.clientId, "g"))
        self.successResultOf(self.hub.sendToGroup("g", "one"))
        frames = self.frames(transport)
        self.assertEqual(frames[0]["type"], "position")
        self.assertEqual((frames[1]["data"], frames[1]["stream"], frames[1]["offset"]),
                         ("one", "group:g", 1))

    def frames_epoch(self):
        return self.hub.store.read("all").epoch

    def test_resumeAfterAway(self):
        protocol, transport = self.open()
        self.successResultOf(self.hub.bindUid(protocol.clientId, "u"))
        self.successResultOf(self.hub.sendToUid("u", "before"))
        position = [f for f in self.frames(transport) if f["type"] == "message"][-1]
        self.lose(protocol)
        for text in ("away 1", "away 2"):
            # A uid with no connection: kept for its next one.
            self.assertEqual(self.successResultOf(self.hub.sendToUid("u", text)),
                             {"online": 0})
        resume = resumeOf({"uid:u": {"epoch": position["epoch"], "offset": position["offset"]}})
        protocol, transport = self.open(resume, app=_BindsU)
        frames = self.frames(transport)
        self.assertEqual([f["data"] for f in frames if f["type"] == "message"],
                         ["away 1", "away 2"])
        recovered = [f for f in frames if f["type"] == "recovered"][0]
        self.assertEqual((recovered["recovered"], recovered["missed"], recovered["lost"],
                          recovered["offset"]), (True, 2, 0, 3))
        page = self.successResultOf(self.hub.getHistory("uid:u", since=1))
        self.assertEqual([m["data"] for m in page["messages"]], ["away 1", "away 2"])

    def test_badClientFramesClose1002(self):
        for bad in [b"not json", b'{"type": "ping"}', b'{"type": "message"}', b"[]"]:
            protocol, transport = self.open(app=OkProtocol)
            transport.clear()
            protocol.dataReceived(clientFrame(bad))
            self.assertEqual(serverFrames(transport.value())[-1][1][:2], b"\x03\xea")

    def test_badResumeRefusedAtTheHandshake(self):
        protocol, transport = self.open(resume="%%%")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 400 "), transport.value())
        self.assertIn(b"resume is not base64url JSON", transport.value())

    def test_plainClientUnchanged(self):
        protocol, transport = self.handshake(self.factory)
        transport.clear()
        self.successResultOf(self.hub.sendToAll("plain"))
        self.assertEqual(serverFrames(transport.value()), [(1, b"plain")])

    def test_pings(self):
        v1, framed = self.open()
        plain, raw = self.handshake(self.factory)
        framed.clear()
        raw.clear()
        pingAll(self.factory)
        self.assertEqual(self.frames(framed), [{"type": "ping"}])
        self.assertEqual(raw.value(), b"")


class _BindsU(EchoProtocol):
    def onOpen(self):
        self.hub.bindUid(self.clientId, "u")
