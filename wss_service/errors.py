"""The one exception type for configuration that cannot work."""


class ConfigurationError(Exception):
    """
    Raised with a single readable line that names the problem and its fix.

    L{wss_service.tap} turns it into that line on standard error and a
    non-zero exit status, with no traceback.
    """
