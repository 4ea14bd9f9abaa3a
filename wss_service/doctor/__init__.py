"""
C{wss-doctor URL}: why a browser or WeChat mini program cannot connect to a
wss URL, and what to change. Checks run in order (L{checks.CHECKS}), each
giving one line: C{ok}, C{warn} or C{FAIL}, what it saw, and the fix.
"""
