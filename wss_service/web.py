"""The HTTP side listeners share: metrics and the hub's API."""

from twisted.web.server import Site


class QuietSite(Site):
    """No access log: scrapes and API calls would drown the service's own lines."""

    noisy = False

    def log(self, request):
        pass
