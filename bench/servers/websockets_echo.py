"""The websockets library's echo server. PORT [KEY CERT]"""

import asyncio
import ssl
import sys

from websockets.asyncio.server import serve


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def main(port, key=None, cert=None):
    context = None
    if key:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    async with serve(echo, "127.0.0.1", int(port), ssl=context, compression=None,
                     max_size=None, backlog=4096, ping_interval=None):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
