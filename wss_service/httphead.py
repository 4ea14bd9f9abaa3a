"""
Reading an HTTP request head strictly, as RFC 9112 does, before any header
in it is believed.

Autobahn splits the head with C{str.splitlines()}, which also breaks lines
at C{\\x0b \\x0c \\x1c \\x1d \\x1e \\x85}; a proxy passes such bytes on
inside a header value, so a client could add a header the proxy never sent
(a forged C{X-Forwarded-For}). A head passes here only if every line is
well formed and Autobahn reads exactly the same lines. Pure functions: no
Twisted, no Autobahn.
"""

import re

_TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
# method SP request-target SP HTTP-version
_REQUEST_LINE = re.compile(_TCHAR + rb"+ [\x21-\x7e]+ HTTP/[0-9]\.[0-9]")
# field-name ":" OWS field-value OWS, the value visible characters, spaces,
# tabs and obs-text: no other control character, no space before the colon.
_FIELD_LINE = re.compile(_TCHAR + rb"+:[\t\x20-\x7e\x80-\xff]*")
_LINE_END = re.compile(rb"\r?\n")


def headProblem(head):
    """
    What is wrong with a request head, or L{None} if nothing is.

    @param head: the bytes up to and including the first C{CRLF CRLF}.
    @return: one line for a 400 response and the log, naming the line.
    """
    lines = _LINE_END.split(head[:-4] if head.endswith(b"\r\n\r\n") else head)
    if not _REQUEST_LINE.fullmatch(lines[0]):
        return "malformed request line"
    for number, line in enumerate(lines[1:], 2):
        if not line:
            return f"empty line {number} inside the request head"
        if line[0] in b" \t":
            return f"line {number} is folded (obsolete line folding)"
        if not _FIELD_LINE.fullmatch(line):
            return f"malformed header line {number}"
        if len(line.decode("iso-8859-1").splitlines()) != 1:
            return f"header line {number} holds a byte read as a line break"
    return None
