from hypothesis import given, strategies as st
from twisted.trial.unittest import TestCase

from wss_service.httphead import headProblem

# Every character str.splitlines() breaks at beyond CR and LF; the last two
# reach Autobahn as UTF-8 bytes, which ISO-8859-1 decoding does not break.
SPLITTERS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def head(*lines, request=b"GET /wss HTTP/1.1"):
    return b"\r\n".join([request, b"Host: localhost", *lines]) + b"\r\n\r\n"


class HeadProblemTests(TestCase):
    def test_wellFormed(self):
        self.assertIsNone(headProblem(head(b"Upgrade: websocket", b"X-Empty:",
                                           b"X-Spaces: a b\tc ", b"Cookie: caf\xc3\xa9")))

    def test_bareLineFeedsAccepted(self):
        self.assertIsNone(headProblem(b"GET / HTTP/1.1\nHost: a\nX-A: b\r\n\r\n"))

    def test_eachSplitterRefused(self):
        for character in SPLITTERS:
            data = f"X-Note: a{character}X-Forwarded-For: 203.0.113.77".encode("utf-8")
            if character in "\x85":
                data = data.replace(b"\xc2\x85", b"\x85")
            problem = headProblem(head(data))
            if character in "\u2028\u2029":
                # As bytes these are visible obs-text that no reader splits.
                self.assertIsNone(problem, repr(character))
            else:
                self.assertEqual(problem, "malformed header line 3" if character != "\x85"
                                 else "header line 3 holds a byte read as a line break",
                                 repr(character))

    def test_controlCharacters(self):
        for byte in [*range(0, 9), *range(10, 32), 127]:
            self.assertIsNotNone(headProblem(head(b"X-A: a" + bytes([byte]) + b"b")), byte)

    def test_bareCarriageReturn(self):
        self.assertEqual(headProblem(head(b"X-A: a\rX-Real-IP: 1.2.3.4")),
                         "malformed header line 3")

    def test_obsoleteFolding(self):
        self.assertEqual(headProblem(head(b"X-A: a", b" X-Real-IP: 1.2.3.4")),
                         "line 4 is folded (obsolete line folding)")
        self.assertIsNotNone(headProblem(head(b"X-A: a", b"\tfolded")))

    def test_noColon(self):
        self.assertEqual(headProblem(head(b"just words")), "malformed header line 3")

    def test_nameNotAToken(self):
        for line in [b"X A: b", b"X-A : b", b": b", b"X(A): b", b"X-\xe9: b"]:
            self.assertIsNotNone(headProblem(head(line)), line)

    def test_emptyLineInside(self):
        self.assertEqual(headProblem(b"GET / HTTP/1.1\nHost: a\n\nX-Real-IP: 1.2.3.4\r\n\r\n"),
                         "empty line 3 inside the request head")

    def test_requestLine(self):
        for line in [b"GET /wss", b"GET  /wss HTTP/1.1", b"GET /w ss HTTP/1.1",
                     b"GET /wss HTTP/1.1 ", b"G\x0bET /wss HTTP/1.1", b"", b" GET / HTTP/1.1"]:
            self.assertEqual(headProblem(head(request=line)), "malformed request line", line)

    @given(st.lists(st.binary(max_size=30), min_size=1, max_size=6))
    def test_acceptedHeadsReadAlikeEverywhere(self, lines):
        """A head that passes has the same lines to RFC 9112 and to Autobahn."""
        data = head(*lines)
        if headProblem(data) is None:
            read = data[:-4].decode("iso-8859-1").splitlines()
            self.assertEqual(len(read), len(lines) + 2)
            for text in read[1:]:
                self.assertRegex(text, r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:")
