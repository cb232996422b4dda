#!/usr/bin/env python3
"""A real WebSocket server for reqivo's tests: the `websockets` package on
127.0.0.1, port 0. Prints the port on its first line of stdout, then serves
until stdin closes (the test dropping its handle) or it is killed.

Paths:
  /echo[...]        echoes every message with its kind; records the close
                    code and reason the client sent
  /close?code=C&reason=R
                    after one message from the client, closes with C and R
  /last-close       sends the last close code and reason recorded, as
                    "code reason", then waits for the client to close
  /headers          sends the request headers as a JSON object
  /reject           answers 403 with a body, no upgrade
  /bad-utf8         sends a text frame that is not UTF-8 (raw bytes); the
                    client's 1007 close that must follow ends it quietly
  /drop-once?id=X   the first connection with id X gets half a frame and is
                    dropped; later ones get the text "again", then echo
With --tls CERT KEY it serves wss:// with that PEM chain and key.
With --deflate it accepts permessage-deflate (websockets' defaults); with
--deflate-client-bits N it also asks the client for a window of 2^N
(client_max_window_bits=N) and inflates with that window, and with
--deflate-no-context both sides reset their context per message.
With --forever it ignores stdin and serves until killed (for shell scripts,
whose background jobs read /dev/null).
Subprotocols "chat" and "superchat" are selected when offered, in the
client's order. No compression is offered.
"""
import asyncio
import json
import sys
from urllib.parse import parse_qs, urlparse

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

last_close = ["none"]
dropped = set()


def process_request(connection, request):
    if request.path.startswith("/reject"):
        return connection.respond(403, "not here\n")
    return None


def select_subprotocol(connection, offered):
    for p in offered:
        if p in ("chat", "superchat"):
            return p
    return None


async def handler(ws):
    url = urlparse(ws.request.path)
    if url.path == "/echo":
        try:
            async for m in ws:
                await ws.send(m)
        except ConnectionClosed:
            pass
        finally:
            rcvd = ws.protocol.close_rcvd
            last_close[0] = (
                f"{rcvd.code} {rcvd.reason}" if rcvd is not None else "none"
            )
    elif url.path == "/close":
        q = parse_qs(url.query)
        await ws.recv()
        await ws.close(int(q["code"][0]), q.get("reason", [""])[0])
    elif url.path == "/last-close":
        await ws.send(last_close[0])
        async for _ in ws:
            pass
    elif url.path == "/drop-once":
        key = parse_qs(url.query).get("id", [""])[0]
        if key not in dropped:
            dropped.add(key)
            ws.transport.write(b"\x82\x0ahalf")
            ws.transport.abort()
            return
        await ws.send("again")
        async for m in ws:
            await ws.send(m)
    elif url.path == "/bad-utf8":
        ws.transport.write(b"\x81\x02\xc3\x28")
        try:
            async for _ in ws:
                pass
        except ConnectionClosedError as e:
            # The client must fail the connection with 1007 (RFC 6455
            # §8.1): the test's expected end, not an error to print. Any
            # other end is raised, and websockets prints it.
            if e.rcvd is None or e.rcvd.code != 1007:
                raise
    elif url.path == "/headers":
        await ws.send(json.dumps({k.lower(): v for k, v in ws.request.headers.raw_items()}))
        async for _ in ws:
            pass


def tls_context():
    if "--tls" not in sys.argv:
        return None
    import ssl

    i = sys.argv.index("--tls")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[i + 1], sys.argv[i + 2])
    return ctx


def extensions():
    """permessage-deflate as the flags ask, or None for websockets' own
    defaults (--deflate) or no compression."""
    if "--deflate-client-bits" not in sys.argv and "--deflate-no-context" not in sys.argv:
        return None
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

    bits = None
    if "--deflate-client-bits" in sys.argv:
        bits = int(sys.argv[sys.argv.index("--deflate-client-bits") + 1])
    no_context = "--deflate-no-context" in sys.argv
    return [
        ServerPerMessageDeflateFactory(
            server_no_context_takeover=no_context,
            client_no_context_takeover=no_context,
            client_max_window_bits=bits,
            require_client_max_window_bits=bits is not None,
        )
    ]


async def main():
    exts = extensions()
    async with serve(
        handler,
        "127.0.0.1",
        0,
        process_request=process_request,
        select_subprotocol=select_subprotocol,
        compression="deflate" if "--deflate" in sys.argv and exts is None else None,
        extensions=exts,
        max_size=32 * 1024 * 1024,
        ping_interval=None,
        ssl=tls_context(),
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        if "--forever" in sys.argv:
            await asyncio.Future()
        loop = asyncio.get_running_loop()
        # Ends when the test closes our stdin (or exits).
        await loop.run_in_executor(None, sys.stdin.read)


asyncio.run(main())
