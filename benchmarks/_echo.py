"""Floor servers for the transport benchmark: a raw WebSocket echo and an HTTP echo, nothing else.

Run as a separate process, like the daemon, so both pay the same loopback and process costs.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runway_bridge from this checkout

from aiohttp import WSMsgType, web


async def ws_echo(request):
    ws = web.WebSocketResponse(compress=False, max_msg_size=64 * 1024 * 1024)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
        elif msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
    return ws


async def http_echo(request):
    return web.Response(body=await request.read(), content_type="application/json")


async def codec_query(request):
    """The Runway ``/query`` of an identity model with nothing but the codec work, inline: the
    least any aiohttp server can spend on the path (bench_throughput's bare-server reference)."""
    from runway_bridge import _codec

    uri = json.loads(await request.read())["image"]
    pixels = _codec.jpeg_decode(_codec.b64decode(uri[uri.index(",") + 1:]))
    out = b'{"image":"data:image/jpeg;base64,' + _codec.b64encode_bytes(_codec.jpeg_encode(pixels, 80)) + b'"}'
    return web.Response(body=out, content_type="application/json")


def main() -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_get("/ws", ws_echo)
    app.router.add_post("/echo", http_echo)
    app.router.add_post("/query", codec_query)
    app.router.add_get("/health", lambda request: web.Response(text="ok"))
    try:
        import socketio

        sio = socketio.AsyncServer(async_mode="aiohttp", max_http_buffer_size=64 * 1024 * 1024)

        @sio.on("query")
        async def query(sid, data):
            await sio.emit("data", data, to=sid)

        sio.attach(app)
    except ImportError:
        pass
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
