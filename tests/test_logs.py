import io
import json
import os

from twisted.logger import LogLevel
from twisted.trial.unittest import TestCase

from wss_service import logs


def event(**fields):
    return dict({"log_format": "open {client}", "client": "192.0.2.1", "log_level": LogLevel.info,
                 "log_namespace": "wss", "log_time": 0.0}, **fields)


class WorkerTests(TestCase):
    def setUp(self):
        self.addCleanup(os.environ.pop, logs.WORKER_VARIABLE, None)

    def test_json(self):
        out = io.StringIO()
        logs.JSONLinesObserver(out)(event())
        self.assertNotIn("worker", json.loads(out.getvalue()))
        os.environ[logs.WORKER_VARIABLE] = "3"
        observer = logs.jsonObserver()
        observer.out = out = io.StringIO()
        observer(event())
        record = json.loads(out.getvalue())
        self.assertEqual((record["worker"], record["client"]), (3, "192.0.2.1"))

    def test_text(self):
        os.environ[logs.WORKER_VARIABLE] = "2"
        self.patch(logs, "textFileLogObserver", lambda out: lines.append)
        lines = []
        observer = logs.workerTextObserver()
        observer(event())
        observer(event(log_system="-"))
        self.assertEqual([e["log_system"] for e in lines], ["worker 2 wss#info", "worker 2 -"])
