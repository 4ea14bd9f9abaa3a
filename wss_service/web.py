"""The HTTP side listeners share: metrics and the hub's API."""

from inspect import signature

from twisted.web.server import Site

# Twisted 25.5 and later can leave a POST body alone instead of parsing it
# as a form (through the email package, which builds header classes for
# every request); neither site here reads forms. Earlier ones always parse.
_NO_FORMS = ({"parsePOSTFormSubmission": False}
             if "parsePOSTFormSubmission" in signature(Site.__init__).parameters else {})


class QuietSite(Site):
    """
    No access log (scrapes and API calls would drown the service's own
    lines), and bodies not parsed as forms where Twisted allows.
    """

    noisy = False

    def __init__(self, resource):
        super().__init__(resource, **_NO_FORMS)

    def log(self, request):
        pass
