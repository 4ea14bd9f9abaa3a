"""
Loading the optional compiled modules. The compiled short road
(C{_wss_frames}) gives the Python road's results
for any bytes: the same messages delivered, bytes left and counts, the same
frames built.
The tests of the short road against Autobahn run on both roads (see
L{PythonRoadTests}).
"""

import os
import sys
import types

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import TestCase

from tests.fastpaths import test_frames
from tests.support.compiled import patchMethod, requireCompiled
from tests.support.handshake import InMemory
from tests.test_protocol import factory
from tests.fastpaths.test_frames import frame as anyFrame, keys, odd, payloads, whole
from wss_service.fastpaths import compiled as compiledModules, frames
from wss_service.fastpaths.compiled import PURE

EXAMPLES = settings(max_examples=2000, deadline=None)
# Each example opens six connections.
TAKE_EXAMPLES = settings(max_examples=400, deadline=None)
LIMITS = st.sampled_from([0, 1, 50, 125, 126, 300, 0xFFFF])
# Text around the UTF-8 edges: overlong forms, surrogates, beyond U+10FFFF, cut sequences.
EDGES = [b"\xc0\x80", b"\xc1\xbf", b"\xc2\x80", b"\xdf\xbf", b"\xe0\x9f\xbf", b"\xe0\xa0\x80",
         b"\xed\x9f\xbf", b"\xed\xa0\x80", b"\xef\xbf\xbf", b"\xf0\x8f\xbf\xbf",
         b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
         b"\xff", b"\x80", b"\xe2\x82", b"\xf0\x9f\x98"]
utf8ish = st.lists(st.one_of(st.sampled_from(EDGES), st.text(max_size=12).map(str.encode),
                             st.binary(max_size=9)), max_size=12).map(b"".join)
texts = st.builds(anyFrame, st.just(0x81), utf8ish, keys)
streams = st.lists(st.one_of(whole, texts, texts, odd), min_size=1, max_size=10).map(b"".join)


class CompiledTests(InMemory, TestCase):
    def setUp(self):
        super().setUp()
        self.compiled = requireCompiled(frames)

    def took(self, take, data, limit=0xFFFF, validate=True):
        """
        What C{take} (a C{_takeShortFrames}) makes of C{data} in a fresh
        connection's buffer: its answer, the buffer left, the messages
        delivered and answered, the state and the counters.
        """
        protocol, transport = self.handshake(factory(test_frames.Recorder, clock=self.clock))
        transport.clear()
        protocol._inLimit, protocol.utf8validateIncoming = limit, validate
        protocol.data = data
        answer = take(protocol)
        stats = protocol.trafficStats
        return (answer, protocol.data, protocol.received, transport.value(), protocol.state,
                [getattr(stats, name) for name in frames.TRAFFIC])

    @TAKE_EXAMPLES
    @given(streams, st.integers(min_value=0, max_value=200), LIMITS, st.booleans())
    def test_takeAsPython(self, data, cut, limit, validate):
        for chunk in (data, data[:cut], data[cut:]):
            self.assertEqual(self.took(self.compiled._takeShortFrames, chunk, limit, validate),
                             self.took(frames.pythonTakeShortFrames, chunk, limit, validate))

    @EXAMPLES
    @given(utf8ish)
    def test_utf8AsPython(self, text):
        data = anyFrame(0x81, text, b"\x01\x02\x03\x04")
        delivered = self.took(self.compiled._takeShortFrames, data)[2]
        self.assertEqual(bool(delivered), frames._isUtf8(text), text)

    @given(payloads, st.booleans())
    def test_frameAsPython(self, payload, isBinary):
        self.assertEqual(self.compiled.frame(payload, isBinary),
                         frames.pythonFrame(payload, isBinary))

    def test_largeFrames(self):
        key = b"\x9a\x01\xff\x10"
        for size in (125, 126, 127, 4095, 65535):
            payload = bytes(range(256)) * (size // 256) + b"y" * (size % 256)
            answer, left, received = self.took(
                self.compiled._takeShortFrames, anyFrame(0x82, payload, key))[:3]
            self.assertEqual((answer, left, received), (True, b"", [(payload, True)]))
            self.assertEqual(self.compiled.frame(payload, False),
                             frames.pythonFrame(payload, False))
        self.assertRaises(ValueError, self.compiled.frame, b"z" * 65536, True)

    def test_inUseHere(self):
        self.assertIs(vars(frames.ShortRoad)["dataReceived"], self.compiled.dataReceived)
        self.assertIs(vars(frames.ShortRoad)["_takeShortFrames"], self.compiled._takeShortFrames)
        self.assertIs(vars(frames.ShortRoad)["sendMessage"], self.compiled.sendMessage)
        self.assertIs(frames.frame, self.compiled.frame)
        self.assertIs(frames.sendShort, self.compiled.sendShort)
        self.assertIs(frames.sendPrepared, self.compiled.sendPrepared)
        self.assertIs(frames.sendAll, self.compiled.sendAll)


class PythonRoad:
    def setUp(self):
        super().setUp()
        for name, method in (("dataReceived", frames.pythonDataReceived),
                             ("_takeShortFrames", frames.pythonTakeShortFrames),
                             ("sendMessage", frames.pythonSendMessage)):
            patchMethod(self, frames.ShortRoad, name, method)
        self.patch(frames, "frame", frames.pythonFrame)
        self.patch(frames, "sendShort", frames.pythonSendShort)
        self.patch(frames, "sendPrepared", frames.ShortRoad.sendPrepared)
        self.patch(frames, "sendAll", frames.pythonSendAll)


class PythonRoadTests(PythonRoad, test_frames.ShortRoadTests):
    """The short road's tests against Autobahn, on the Python road."""


class PythonPreparedTests(PythonRoad, test_frames.PreparedTests):
    """Prepared frames' tests, on the Python road."""


class LoadTests(TestCase):
    """Which compiled module serves, and the reason given when none does."""

    def setUp(self):
        self.patch(os, "environ", {k: v for k, v in os.environ.items() if k != PURE})

    def test_missing(self):
        self.assertEqual(compiledModules.load("_wss_no_such_module", 1), (
            None, "no compiled module (pip install builds it where a C compiler and Python's "
                  "headers exist)"))

    def test_pythonAskedFor(self):
        os.environ[PURE] = "1"
        self.assertEqual(compiledModules.load("_wss_frames", frames.COMPILED_API),
                         (None, f"{PURE}=1 in the environment"))

    def test_anotherRelease(self):
        stale = types.ModuleType("_wss_stale")
        stale.API, stale.__file__ = 0, "/x/_wss_stale.so"
        self.patch(sys, "modules", dict(sys.modules, _wss_stale=stale))
        self.assertEqual(compiledModules.load("_wss_stale", 1), (
            None, "the compiled module /x/_wss_stale.so is of another release (API 0, not 1); "
                  "pip install again"))

    def test_found(self):
        module = types.ModuleType("_wss_fine")
        module.API = 3
        self.patch(sys, "modules", dict(sys.modules, _wss_fine=module))
        self.assertEqual(compiledModules.load("_wss_fine", 3), (module, None))
