"""What each check found, as lines for a person or one JSON object for a script."""

import json
from dataclasses import asdict, dataclass

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"


@dataclass
class Result:
    """
    One check's finding.

    @ivar seen: what it saw, in a sentence.
    @ivar fix: for warn and FAIL, what to change, in the user's terms.
    """

    check: str
    status: str
    seen: str
    fix: str | None = None


def failed(results):
    return any(r.status == FAIL for r in results)


def asText(results):
    lines = []
    width = max(len(r.check) for r in results)
    for r in results:
        line = f"{r.status:<4} {r.check:<{width}}  {r.seen}"
        if r.fix:
            line += f" -> {r.fix}"
        lines.append(line)
    verdict = "something is wrong: see FAIL above" if failed(results) else "nothing failed"
    return "\n".join(lines + [verdict])


def asJSON(url, results):
    return json.dumps({"url": url, "ok": not failed(results),
                       "checks": [asdict(r) for r in results]}, indent=2)
