"""
Log lines: C{--log-format json} (one JSON object per line, for log shippers)
and, in a C{--workers} worker, lines that say which worker wrote them.
"""

import json
import os
import sys
from datetime import datetime, timezone

from twisted.logger import ILogObserver, formatEvent, textFileLogObserver
from zope.interface import implementer

FIELDS = ("client", "peer", "path", "code", "reason", "duration")
# Set by the master (wss_service.workers) in each worker's environment.
WORKER_VARIABLE = "WSS_WORKER"


def workerNumber():
    """This worker's number, or L{None} outside C{--workers}."""
    number = os.environ.get(WORKER_VARIABLE)
    return int(number) if number is not None else None


@implementer(ILogObserver)
class JSONLinesObserver:
    def __init__(self, out, worker=None):
        self.out = out
        self.worker = worker

    def __call__(self, event):
        record = {
            "time": datetime.fromtimestamp(event["log_time"], timezone.utc).isoformat(),
            "level": event["log_level"].name,
            "namespace": event.get("log_namespace"),
            "message": formatEvent(event),
        }
        if self.worker is not None:
            record["worker"] = self.worker
        record.update((key, event[key]) for key in FIELDS if key in event)
        if "log_failure" in event:
            record["traceback"] = event["log_failure"].getTraceback()
        self.out.write(json.dumps(record, default=str) + "\n")
        self.out.flush()


def jsonObserver():
    """A log observer factory for twistd (its C{--logger})."""
    # twistd redirects sys.stdout into the log after this: keep the real one.
    return JSONLinesObserver(sys.stdout, workerNumber())


def workerTextObserver():
    """twistd's text lines, each naming the worker: C{[worker 2 wss#info]}."""
    out = textFileLogObserver(sys.stdout)
    worker = workerNumber()

    def observe(event):
        system = event.get("log_system") or (
            f"{event.get('log_namespace', '-')}#{event['log_level'].name}"
            if "log_level" in event else "-")
        out(dict(event, log_system=f"worker {worker} {system}"))

    return observe
