from twisted.trial.unittest import TestCase

from wss_service.hub.api import METHODS, APIError, arguments
from wss_service.hub.hub import Hub


class ArgumentsTests(TestCase):
    def test_everyMethodIsTheHubs(self):
        for method, (name, _) in METHODS.items():
            self.assertTrue(callable(getattr(Hub, name)), method)

    def test_mapping(self):
        self.assertEqual(arguments("send_to_group", {"group": "g", "data": "x",
                                                     "exclude": ["a"]}),
                         ("sendToGroup", ["g", "x"], {"exclude": ["a"]}))
        self.assertEqual(arguments("send_to_uid", {"uid": "u", "data_base64": "AAE="}),
                         ("sendToUid", ["u", b"\x00\x01"], {}))
        self.assertEqual(arguments("close_client", {"client_id": "c", "code": 4000}),
                         ("closeClient", ["c"], {"code": 4000}))
        for method, params, status in [("nope", {}, 404), ("send_to_uid", {"uid": "u"}, 400),
                                       ("send_to_uid", {"uid": "u", "data": 1}, 400),
                                       ("send_to_all", {"data": "x", "exclude": "a"}, 400),
                                       ("ungroup", [], 400)]:
            self.assertEqual(self.assertRaises(APIError, arguments, method, params).status,
                             status, (method, params))
