"""
The quick sections of the Autobahn testsuite against the real service, ws
and wss, with and without compression (conformance/run --quick).
"""

import os
import subprocess
import sys

from twisted.trial.unittest import SkipTest, TestCase

from tests.support.service import REPO, environment

RUN = os.path.join(REPO, "conformance", "run")
WSTEST = os.path.join(REPO, ".wstest", "bin", "wstest")


class ConformanceTests(TestCase):
    def test_quickSections(self):
        if not os.path.exists(WSTEST):
            message = "wstest is not installed: run conformance/run --install"
            if os.environ.get("CI", "").lower() == "true":
                raise AssertionError(f"{message}; CI must install it")
            raise SkipTest(message)
        result = subprocess.run([sys.executable, RUN, "--quick"], capture_output=True,
                                text=True, timeout=600, env=environment())
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("wss-service wss: 115 cases", result.stdout)
