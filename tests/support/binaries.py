"""Find the real programs the integration tests drive."""

import os
import shutil

from twisted.trial.unittest import SkipTest

PACKAGES = {
    "nginx": "nginx-light",
    "apache2": "apache2",
    "chromium": "chromium",
    "certutil": "libnss3-tools",
    "openssl": "openssl",
    "systemd-socket-activate": "systemd",
    "cc": "gcc",
    "taskset": "util-linux",
    "node": "nodejs",
    "redis-server": "redis-server",
}


def requireBinary(name):
    """
    The path of C{name}. If it is missing, skip with the package to install,
    except under CI (C{CI=true}), where a missing binary fails the test.
    """
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if path:
        return path
    message = f"{name} is not installed (apt-get install {PACKAGES.get(name, name)})"
    if os.environ.get("CI", "").lower() == "true":
        raise AssertionError(f"{message}; CI must install it")
    raise SkipTest(message)
