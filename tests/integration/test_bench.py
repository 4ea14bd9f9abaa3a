"""
A smoke run of the benchmark suite: it builds, runs both kinds of target and
writes its table. Figures are not checked: benchmarks are not timed tests.
"""

import json
import os
import subprocess
import sys

from twisted.trial.unittest import TestCase

from tests.support.binaries import requireBinary
from tests.support.service import REPO, environment


class BenchSmokeTests(TestCase):
    def test_smoke(self):
        requireBinary("cc")
        requireBinary("taskset")
        output = os.path.abspath(self.mktemp())
        result = subprocess.run(
            [sys.executable, os.path.join(REPO, "bench", "run"), "--smoke", "--output", output],
            capture_output=True, text=True, timeout=300, env=environment())
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        with open(os.path.join(output, "latest.md")) as f:
            rows = [line.split("|") for line in f if line.startswith("| throughput")]
        targets = {row[2].strip(): row[3].strip() for row in rows}
        self.assertEqual(set(targets), {"wss-service ws", "wss-service wss",
                                        "autobahn ws", "autobahn wss"})
        for target, rate in targets.items():
            self.assertGreater(float(rate.replace(",", "")), 0, target)
        with open(os.path.join(output, "latest.json")) as f:
            many = json.load(f)["throughput 2000 conns 32 B"]
        # Echo is measured once every connection is open, not while they open.
        for target, runs in many.items():
            self.assertEqual([r["opened"] for r in runs], [2000], target)
