"""The optional compiled modules, as the tests need them."""

import os

from twisted.trial.unittest import SkipTest

from wss_service.fastpaths.compiled import PURE


def requireCompiled(road):
    """
    C{road.compiled}, the compiled module of a fast path (C{frames} or
    C{tlstransport}). Missing, the test is skipped, except under CI
    (C{CI=true}) unless the run is meant to be pure Python
    (C{WSS_SERVICE_PURE_PYTHON=1}).
    """
    if road.compiled is not None:
        return road.compiled
    message = f"{road.__name__}'s compiled module is not here: {road.notCompiled}"
    if os.environ.get("CI", "").lower() == "true" and os.environ.get(PURE) != "1":
        raise AssertionError(f"{message}; CI builds it (gcc, python3-dev)")
    raise SkipTest(message)
