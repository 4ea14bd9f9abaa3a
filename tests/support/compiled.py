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


def patchMethod(testCase, cls, name, method):
    """
    Set C{cls.name} to C{method} for one test, and put back what the
    class itself held: a compiled method read through the class is a plain
    function, which would no longer bind as a method.
    """
    testCase.addCleanup(setattr, cls, name, vars(cls)[name])
    setattr(cls, name, method)
