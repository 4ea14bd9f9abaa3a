"""
`pip install .` (not editable) installs the plugin (`twistd --help` lists wss)
and the wss-doctor script.
"""

import os
import subprocess
import sys

from twisted.trial.unittest import TestCase

from tests.support.service import REPO


class InstallTests(TestCase):
    def test_pipInstallListsPlugin(self):
        target = os.path.abspath(self.mktemp())
        build = os.path.abspath(self.mktemp())
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
             "--no-build-isolation", "--target", target, REPO],
            check=True, timeout=300, cwd=REPO, env=dict(os.environ, TMPDIR=os.path.dirname(build)),
        )
        self.assertTrue(os.path.exists(os.path.join(target, "twisted", "plugins", "wss_plugin.py")))
        # Only the installed copy is importable: not the work tree.
        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        env = dict(os.environ, PYTHONPATH=target)
        result = subprocess.run([twistd, "--help"], capture_output=True, text=True,
                                timeout=60, env=env, cwd=target)
        self.assertIn("wss ", result.stdout)
        check = subprocess.run(
            [sys.executable, "-c", "import wss_service; print(wss_service.__file__)"],
            capture_output=True, text=True, env=env, cwd=target, timeout=60,
        )
        self.assertTrue(check.stdout.startswith(target), check.stdout)
        doctor = os.path.join(target, "bin", "wss-doctor")
        self.assertTrue(os.path.exists(doctor), os.listdir(target))
        result = subprocess.run([sys.executable, doctor, "--help"], capture_output=True,
                                text=True, env=env, cwd=target, timeout=60)
        self.assertIn("usage: wss-doctor", result.stdout)
        self.assertEqual(result.returncode, 0, result.stderr)
