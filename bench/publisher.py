"""
The fan-out benchmark's publisher: one message at a time, each starting with
the CLOCK_MONOTONIC nanoseconds it is published at, for DURATION seconds.
Prints how many it published.

With RATE (messages a second), open loop: message i goes at start + i /
RATE, whatever the receivers have got, so that a server that accepts faster
than it delivers cannot look faster than it is. Without, closed loop: the
next once the server has answered. With FROM and UNTIL (CLOCK_MONOTONIC
seconds: the receivers' measuring window), it also prints how many it
published within them.

    publisher.py http URL KEY DURATION SIZE [RATE [FROM UNTIL]]   # the hub's API
    publisher.py ws URL DURATION SIZE [RATE [FROM UNTIL]]         # a reference server's /pub
"""

import asyncio
import http.client
import json
import sys
import time
from urllib.parse import urlsplit


def message(size):
    stamp = str(time.monotonic_ns())
    return stamp + " " + "x" * max(0, size - len(stamp) - 1)


def pause(start, count, rate):
    """Seconds until message C{count} is due (0 when closed loop or late)."""
    return max(0.0, start + count / rate - time.monotonic()) if rate else 0.0


def viaHTTP(url, key, duration, size, rate, sent):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    start = time.monotonic()
    end, count = start + duration, 0
    while time.monotonic() < end:
        time.sleep(pause(start, count, rate))
        sent.append(time.monotonic())
        connection.request("POST", "/api/send_to_group",
                           json.dumps({"group": "fan", "data": message(size)}), headers)
        response = connection.getresponse()
        response.read()
        count += response.status == 200
    return count


async def viaWebSocket(url, duration, size, rate, sent):
    from websockets.asyncio.client import connect

    async with connect(url, proxy=None, max_size=None) as ws:
        start = time.monotonic()
        end, count = start + duration, 0
        while time.monotonic() < end:
            await asyncio.sleep(pause(start, count, rate))
            sent.append(time.monotonic())
            await ws.send(message(size))
            await ws.recv()
            count += 1
    return count


def main(kind, *arguments):
    if kind == "http":
        url, key, duration, size, *paced = arguments
        publish = lambda rate, sent: viaHTTP(url, key, float(duration), int(size), rate, sent)
    else:
        url, duration, size, *paced = arguments
        publish = lambda rate, sent: asyncio.run(
            viaWebSocket(url, float(duration), int(size), rate, sent))
    rate, window = (float(paced[0]) if paced else 0), [float(t) for t in paced[1:3]]
    sent = []
    figures = {"published": publish(rate, sent)}
    if window:
        figures["in_window"] = sum(window[0] <= t < window[1] for t in sent)
    print(json.dumps(figures))


if __name__ == "__main__":
    main(*sys.argv[1:])
