"""The sites the service's HTTP listeners serve."""

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource

from wss_service import web
from wss_service.web import QuietSite


class Form(Resource):
    isLeaf = True

    def __init__(self):
        super().__init__()
        self.seen = []

    def render_POST(self, request):
        self.seen.append(dict(request.args))
        return b"ok"


class QuietSiteTests(TestCase):
    def test_formsLeftAlone(self):
        """A form's body is not parsed where Twisted allows it (25.5 and later)."""
        form = Form()
        protocol = QuietSite(form).buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(b"POST /a HTTP/1.1\r\nHost: h\r\n"
                              b"Content-Type: application/x-www-form-urlencoded\r\n"
                              b"Content-Length: 3\r\n\r\na=b")
        self.assertIn(b" 200 ", transport.value())
        self.assertEqual(form.seen, [{} if web._NO_FORMS else {b"a": [b"b"]}])
        protocol.connectionLost(None)
