"""
OpenSSL through pyOpenSSL's private cffi bindings (C{OpenSSL._util}) and
the private attributes of its C{Connection}: the one place that holds them.
"""

from importlib.metadata import version

from OpenSSL import SSL

try:
    from OpenSSL._util import ffi, lib
except ImportError:  # pragma: no cover - a pyOpenSSL without them
    ffi = lib = None

# The pyOpenSSL releases the tests cover: a BIO freed twice is a crash, not
# an exception, so a release outside them keeps pyOpenSSL's own paths.
TESTED = (24, 26)
FUNCTIONS = (
    "SSL_write", "SSL_read", "SSL_pending", "SSL_get_error", "SSL_set_bio", "BIO_new",
    "BIO_s_mem", "BIO_free", "BIO_read", "BIO_write", "BIO_get_mem_data",
    "SSL_ERROR_WANT_READ",
)
CONNECTION = ("_ssl", "_into_ssl", "_from_ssl")


def _major(distribution):
    return int(version(distribution).split(".")[0])


def missing():
    """Why the bindings cannot serve here, or L{None} if they can."""
    if lib is None:
        return "pyOpenSSL has no OpenSSL._util bindings"
    major = _major("pyOpenSSL")
    if not TESTED[0] <= major <= TESTED[1]:
        return f"pyOpenSSL {version('pyOpenSSL')} is outside the tested {TESTED[0]}-{TESTED[1]}"
    absent = [name for name in FUNCTIONS if not hasattr(lib, name)]
    connection = SSL.Connection(SSL.Context(SSL.TLS_SERVER_METHOD), None)
    absent += [f"Connection.{name}" for name in CONNECTION if not hasattr(connection, name)]
    if absent:
        return f"pyOpenSSL lacks {', '.join(absent)}"
    return None


def functionAddresses(names):
    """
    The addresses (ints) of OpenSSL's functions C{names}, as pyOpenSSL's
    bindings reach them: for compiled code that calls the same OpenSSL.
    """
    bindings = getattr(lib, names[0]).__self__
    return [int(ffi.cast("uintptr_t", ffi.addressof(bindings, name))) for name in names]


def address(pointer):
    """A cffi pointer's address, as an int."""
    return int(ffi.cast("uintptr_t", pointer))


def setCurves(context, curves):
    """
    Restrict a context's key exchange groups (pyOpenSSL has no public call).

    @return: whether it was done; if not, OpenSSL's defaults stay.
    """
    if lib is None or not hasattr(lib, "SSL_CTX_set1_curves_list"):
        return False
    return lib.SSL_CTX_set1_curves_list(context._context, curves) == 1
