"""The hub's two kinds of failure."""


class HubError(Exception):
    """
    A call that cannot work as asked: a wrong argument (an API 400), or a
    client that is not online (404).
    """

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


class HubUnavailable(Exception):
    """The hub cannot reach what it needs (Redis): an API 503."""
