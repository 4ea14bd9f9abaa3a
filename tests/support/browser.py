"""
Headless Chromium that trusts the test CA through its NSS database, driven
over the DevTools protocol on loopback.
"""

import json
import os
import subprocess
import time
import urllib.request

from tests.support.binaries import requireBinary
from tests.support.clients import connection
from tests.support.service import shortDirectory, stopProcess

FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]

# The classic snippet, unchanged, with its answer handed back to the test.
SNIPPET = """
new Promise((resolve, reject) => {
    var ws = new WebSocket(%s);
    ws.onopen = function () { ws.send('tom'); };
    ws.onmessage = function (e) { resolve(e.data); };
    ws.onerror = function () { reject('WebSocket error'); };
    setTimeout(function () { reject('timeout'); }, 10000);
})
"""


class Browser:
    """One Chromium process with its own profile and NSS database."""

    def __init__(self, testCase, caPath):
        chromium = requireBinary("chromium")
        certutil = requireBinary("certutil")
        home = os.path.abspath(testCase.mktemp())
        nss = os.path.join(home, ".pki", "nssdb")
        os.makedirs(nss)
        subprocess.run([certutil, "-d", f"sql:{nss}", "-N", "--empty-password"], check=True)
        subprocess.run([certutil, "-d", f"sql:{nss}", "-A", "-t", "C,,", "-n", "wss test CA",
                        "-i", caPath], check=True)
        profile = os.path.join(home, "profile")
        self.process = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            # Its singleton socket goes in TMPDIR, not to be left in /tmp.
            env=dict(os.environ, HOME=home, TMPDIR=shortDirectory(testCase, "wss-chromium-")),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        testCase.addCleanup(self.stop)
        self.port = self._devToolsPort(profile)

    def _devToolsPort(self, profile, timeout=30):
        path = os.path.join(profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"chromium exited with {self.process.returncode}")
            if os.path.exists(path):
                with open(path) as f:
                    first = f.readline().strip()
                if first:
                    return int(first)
            time.sleep(0.1)
        raise AssertionError("chromium did not open its DevTools port")

    def _page(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=10) as r:
            targets = json.load(r)
        return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")

    def evaluate(self, expression):
        """Run JavaScript in the page, await its promise, return the value."""
        with connection(self._page(), max_size=None) as devtools:
            devtools.send(json.dumps({"id": 1, "method": "Runtime.evaluate", "params": {
                "expression": expression, "awaitPromise": True, "returnByValue": True}}))
            while True:
                message = json.loads(devtools.recv(timeout=30))
                if message.get("id") == 1:
                    break
        result = message["result"]
        if "exceptionDetails" in result:
            raise AssertionError(f"in the browser: {result['result'].get('value', result)}")
        return result["result"]["value"]

    def classicSnippet(self, url):
        return self.evaluate(SNIPPET % json.dumps(url))

    def stop(self):
        stopProcess(self.process)
