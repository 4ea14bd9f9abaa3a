"""
C{--log-format json}: one JSON object per line, for log shippers.
"""

import json
import sys
from datetime import datetime, timezone

from twisted.logger import ILogObserver, formatEvent
from zope.interface import implementer

FIELDS = ("client", "peer", "path", "code", "reason", "duration")


@implementer(ILogObserver)
class JSONLinesObserver:
    def __init__(self, out):
        self.out = out

    def __call__(self, event):
        record = {
            "time": datetime.fromtimestamp(event["log_time"], timezone.utc).isoformat(),
            "level": event["log_level"].name,
            "namespace": event.get("log_namespace"),
            "message": formatEvent(event),
        }
        record.update((key, event[key]) for key in FIELDS if key in event)
        if "log_failure" in event:
            record["traceback"] = event["log_failure"].getTraceback()
        self.out.write(json.dumps(record, default=str) + "\n")
        self.out.flush()


def jsonObserver():
    """A log observer factory for twistd (its C{--logger})."""
    # twistd redirects sys.stdout into the log after this: keep the real one.
    return JSONLinesObserver(sys.stdout)
