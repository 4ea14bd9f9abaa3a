import json

from twisted.trial.unittest import TestCase

from wss_service.doctor.report import FAIL, OK, WARN, Result, asJSON, asText, failed


class ReportTests(TestCase):
    results = [Result("tcp", OK, "open"), Result("chain", FAIL, "leaf only", "serve fullchain"),
               Result("url", WARN, "an IP", "use the domain")]

    def test_text(self):
        lines = asText(self.results).splitlines()
        self.assertEqual(lines[0], "ok   tcp    open")
        self.assertEqual(lines[1], "FAIL chain  leaf only -> serve fullchain")
        self.assertEqual(lines[-1], "something is wrong: see FAIL above")
        self.assertEqual(asText(self.results[:1]).splitlines()[-1], "nothing failed")

    def test_json(self):
        report = json.loads(asJSON("wss://x/", self.results))
        self.assertEqual((report["url"], report["ok"]), ("wss://x/", False))
        self.assertEqual(report["checks"][1], {"check": "chain", "status": "FAIL",
                                               "seen": "leaf only", "fix": "serve fullchain"})
        self.assertTrue(failed(self.results))
        self.assertFalse(failed([self.results[0], self.results[2]]))
