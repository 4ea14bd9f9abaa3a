"""
`pip install .` (not editable) installs the plugin (`twistd --help` lists wss)
and the wss-doctor script, with the compiled modules (the short road for
frames, the TLS layer's OpenSSL calls) where a C compiler works and without
them (the pure-Python roads serve) where not.
"""

import os
import shutil
import subprocess
import sys

from twisted.trial.unittest import TestCase

from tests.support.binaries import requireBinary
from tests.support.service import REPO

MODULES = ("_wss_frames", "_wss_tls")
ROAD = ("from wss_service.fastpaths import frames, tlstransport; "
        "print(*[(r.compiled is not None, r.notCompiled) for r in (frames, tlstransport)])")
# The same where no compiled module can be imported (this Python's own has them).
ROAD_WITHOUT = ("import sys; sys.modules.update(_wss_frames=None, _wss_tls=None); " + ROAD)


def environment(**extra):
    """This environment without a wish for pure Python (the floors' CI run has it)."""
    env = {k: v for k, v in os.environ.items() if k != "WSS_SERVICE_PURE_PYTHON"}
    env.update(extra)
    return env


class InstallTests(TestCase):
    def install(self, **extra):
        """C{pip install} a copy of the work tree (without a build left by another)."""
        target = os.path.abspath(self.mktemp())
        build = os.path.abspath(self.mktemp())
        source = os.path.abspath(self.mktemp())
        shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
            ".*", "build", "_trial_temp*", "*.egg-info", "bench", "conformance", "tests"))
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
             "--no-build-isolation", "--target", target, source],
            check=True, timeout=300, cwd=REPO,
            env=environment(TMPDIR=os.path.dirname(build), **extra),
        )
        return target

    def road(self, target, code=ROAD):
        """What the installed copy says of its compiled modules."""
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                env=environment(PYTHONPATH=target), cwd=target, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout.strip()

    def test_compiledWhereACompilerWorks(self):
        requireBinary("cc")
        self.assertEqual(self.road(self.install()), "(True, None) (True, None)")

    def test_installsWithoutACompiler(self):
        target = self.install(CC="false")
        self.assertFalse([n for n in os.listdir(target) if n.startswith(MODULES)])
        self.assertEqual(self.road(target, ROAD_WITHOUT).count('(False, "no compiled module'), 2)

    def test_pipInstallListsPlugin(self):
        target = self.install()
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
