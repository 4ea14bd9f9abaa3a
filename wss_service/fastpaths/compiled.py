"""
The optional compiled modules (C{_wss_frames}, C{_wss_tls}): C{pip install}
builds them where a C compiler and Python's headers exist. Where one is
missing, of another release, or turned off with C{WSS_SERVICE_PURE_PYTHON=1},
the Python road it stands in for serves, with the same results.
"""

import importlib
import inspect
import os

PURE = "WSS_SERVICE_PURE_PYTHON"


def load(name, api):
    """C{(the module or None, why not)}; C{api}: the number it must carry."""
    if os.environ.get(PURE) == "1":
        return None, f"{PURE}=1 in the environment"
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None, ("no compiled module (pip install builds it where a C compiler and "
                      "Python's headers exist)")
    if getattr(module, "API", None) != api:
        return None, (f"the compiled module {module.__file__} is of another release "
                      f"(API {getattr(module, 'API', None)}, not {api}); pip install again")
    return module, None


def described(cls, names):
    """
    Of C{names}, those C{cls} has data descriptors (properties, slots) for:
    a compiled module reads its attributes from the instance's dict first,
    which is right only where there are none.
    """
    return [name for name in names
            if hasattr(type(inspect.getattr_static(cls, name, None)), "__set__")]
