"""
The fan-out benchmark's publisher: one message at a time, each starting with
the CLOCK_MONOTONIC nanoseconds it is published at, the next once the server
has answered; for DURATION seconds. Prints how many it published.

    publisher.py http URL KEY DURATION SIZE    # the hub's API: send_to_group "fan"
    publisher.py ws URL DURATION SIZE          # a reference server's /pub
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


def viaHTTP(url, key, duration, size):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    end, count = time.monotonic() + duration, 0
    while time.monotonic() < end:
        connection.request("POST", "/api/send_to_group",
                           json.dumps({"group": "fan", "data": message(size)}), headers)
        response = connection.getresponse()
        response.read()
        count += response.status == 200
    return count


async def viaWebSocket(url, duration, size):
    from websockets.asyncio.client import connect

    async with connect(url, proxy=None, max_size=None) as ws:
        end, count = time.monotonic() + duration, 0
        while time.monotonic() < end:
            await ws.send(message(size))
            await ws.recv()
            count += 1
    return count


def main(kind, *arguments):
    if kind == "http":
        url, key, duration, size = arguments
        count = viaHTTP(url, key, float(duration), int(size))
    else:
        url, duration, size = arguments
        count = asyncio.run(viaWebSocket(url, float(duration), int(size)))
    print(json.dumps({"published": count}))


if __name__ == "__main__":
    main(*sys.argv[1:])
