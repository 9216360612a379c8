"""HTTP: the daemon API (DESIGN 3.4) and the Runway network protocol's HTTP endpoints (3.2).

Runway endpoints answer at the root for the default model and under ``/v1/models/<id>/``:
``POST query``, ``GET data``, ``GET error`` (``{"error": null}`` when clear), ``GET info``.
"""

from __future__ import annotations

import time
from pathlib import Path

from aiohttp import web

from ..appkeys import BRIDGE
from ..config import BUILTIN_EXAMPLES
from ..errors import BadInput, NotFound
from ..types import Blob
from ..wire import is_bare_image
from . import legacy, openapi
from ._http import PUBLIC, json_response, output_formats, outputs_response, read_body, read_json

WEB = Path(__file__).resolve().parent.parent / "web"
EXAMPLES = BUILTIN_EXAMPLES  # the sketches: inside the installed package, or examples/ in a checkout
P5 = WEB / "vendor" / "node_modules" / "p5" / "lib" / "p5.min.js"
LAUNCHED = web.AppKey("launched", float)


def setup_http(app: web.Application) -> None:
    app[LAUNCHED] = time.time()
    r = app.router
    r.add_get("/healthz", healthz)
    r.add_get("/readyz", readyz)
    r.add_get("/metrics", metrics)
    r.add_get("/openapi.json", openapi_json)
    r.add_get("/v1/models", list_models)
    r.add_get("/v1/models/{id}", get_model)
    r.add_post("/v1/models/{id}/start", start_model)
    r.add_post("/v1/models/{id}/stop", stop_model)
    r.add_get("/v1/models/{id}/commands/{command}", command_schema)
    r.add_post("/v1/models/{id}/commands/{command}", run_command)
    for prefix in ("", "/v1/models/{id}"):
        r.add_post(prefix + "/query", query)
        r.add_get(prefix + "/data", data)
        r.add_get(prefix + "/error", error)
        r.add_get(prefix + "/info", info)
    # Liveness, the console page and the files shipped with the package need no token; Socket.IO
    # checks it in its connect handler (the token may come in its auth payload).
    legacy.setup_legacy(app)
    app[PUBLIC] = (("/healthz", "/", "/v1/healthcheck"), ("/web/", "/client/", "/examples/", "/vendor/"), ("/socket.io/",))
    r.add_get("/", console)
    r.add_static("/client/", WEB / "client", show_index=False)
    r.add_static("/web/", WEB, show_index=False)
    if EXAMPLES.is_dir():
        r.add_static("/examples/", EXAMPLES)
    r.add_get("/vendor/p5.min.js", p5)


# -- health and metrics ----------------------------------------------------------------------


async def healthz(request):
    cfg = request.app[BRIDGE].config
    return json_response({"status": "ok", "uptime_s": round(time.time() - request.app[LAUNCHED], 3),
                          "osc_port": cfg.osc_port, "osc_reply_port": cfg.osc_reply_port if cfg.osc_port else None})


async def readyz(request):
    """Ready when every model asked for at launch is RUNNING; 503 while any is loading."""
    bridge = request.app[BRIDGE]
    states = {m: bridge.status(m)["state"] for m in bridge.config.models}
    ready = all(s == "RUNNING" for s in states.values())
    return json_response({"ready": ready, "models": states}, status=200 if ready else 503)


async def metrics(request):
    return web.Response(body=request.app[BRIDGE].metrics.render(), content_type="text/plain")


async def openapi_json(request):
    return json_response(await openapi.build(request.app[BRIDGE]))


async def console(request):
    return web.FileResponse(WEB / "index.html")


async def p5(request):
    """p5.js for the examples, from the npm package scripts/install.sh puts beside the console."""
    if not P5.is_file():
        raise NotFound("p5.js is not installed here; run scripts/install.sh (it needs npm), "
                       "or the example pages fall back to a CDN copy when online")
    return web.FileResponse(P5)


# -- catalogue ---------------------------------------------------------------------------------


async def list_models(request):
    """The catalogue; for the Unity plugin (it names itself) also the desktop app's fields
    (``options``, ``commands``, ``defaultVersionId``): one answer both kinds of client parse."""
    bridge = request.app[BRIDGE]
    models = [{**e.summary(), **_live(bridge, e.id), "default": e.id == bridge.default_id} for e in bridge.catalog]
    if legacy.wants_app_shape(request):
        extra = await legacy.app_entries(bridge)
        models = [{**extra[m["id"]], **m} for m in models]
    return json_response({"models": models})


def _live(bridge, model_id: str) -> dict:
    """State, and the backend a started model really runs on (a --backend override wins over its card)."""
    host = bridge.hosts.get(model_id)
    live = {"status": bridge.status(model_id)["state"]}
    if host is not None:
        live["backend"] = host.backend.kind
    return live


async def get_model(request):
    bridge = request.app[BRIDGE]
    entry = bridge.entry(request.match_info["id"])
    return json_response({**entry.summary(), **_live(bridge, entry.id), "card": entry.card,
                          "manifest": await bridge.catalog.manifest(entry.id),
                          "status": bridge.status(entry.id), "default": entry.id == bridge.default_id})


async def start_model(request):
    """Body: ``{"options": {...}, "backend": "process"}``; ``?wait=1`` answers once it is loaded."""
    bridge = request.app[BRIDGE]
    body = await read_json(request)
    options, backend = body.get("options", {}), body.get("backend")
    if not isinstance(options, dict):
        raise BadInput("'options' must be an object")
    if backend is not None and not isinstance(backend, str):
        raise BadInput("'backend' must be a string: local, process, docker or remote")
    host = bridge.start(request.match_info["id"], options, backend)
    if request.query.get("wait") not in (None, "", "0", "false"):
        await host._starting
    state = host.state.value
    status = {"RUNNING": 200, "FAILED": host.error.status if host.error else 500}.get(state, 202)
    return json_response({"id": host.id, **host.status()}, status=status)


async def stop_model(request):
    await request.app[BRIDGE].stop(request.match_info["id"])
    return json_response({"id": request.match_info["id"], "state": "STOPPED"})


async def _command(request) -> tuple:
    bridge = request.app[BRIDGE]
    model_id, name = request.match_info["id"], request.match_info["command"]
    manifest = await bridge.catalog.manifest(model_id)
    for c in manifest["commands"]:
        if c["name"] == name:
            return bridge, c
    raise NotFound(f"{model_id} has no command {name!r}; it has {[c['name'] for c in manifest['commands']]}")


async def command_schema(request):
    return json_response((await _command(request))[1])


async def run_command(request):
    """JSON inputs, or a raw ``image/jpeg``/``image/png`` body for a single-image command."""
    bridge, cmd = await _command(request)
    host = bridge.host(request.match_info["id"])
    inputs = await _inputs(request, cmd)
    result = await host.call(cmd["name"], inputs, formats=output_formats(request))
    return outputs_response(result)


async def _inputs(request, cmd: dict) -> dict:
    if request.content_type in ("image/jpeg", "image/png") or request.content_type.startswith("application/octet"):
        raw = await read_body(request)
        images = [i["name"] for i in cmd["inputs"] if i["type"] == "image"]
        fmt = is_bare_image(raw)
        if len(images) != 1:
            raise BadInput(f"{cmd['name']} takes {len(images)} images; send JSON inputs instead of a raw body")
        if fmt is None:
            raise BadInput("the body is not a JPEG or PNG image")
        extra = {k: v for k, v in request.query.items() if k != "token"}
        return {images[0]: Blob(fmt, raw), **extra}
    return await read_json(request)


# -- Runway network protocol ---------------------------------------------------------------


def _host(request):
    return request.app[BRIDGE].host(request.match_info.get("id"))


# These answer uncompressed whatever Accept-Encoding says (see `_worth_gzip`): Processing's
# RunwayHTTP offers gzip itself and then cannot read it.


async def query(request):
    host = _host(request)
    result = await host.call(None, await read_json(request, text_ok=True), formats=output_formats(request))
    return outputs_response(result, gzip=False)


async def data(request):
    return outputs_response(_host(request).last_data, gzip=False)


async def error(request):
    err = _host(request).last_error
    return json_response({"error": err.message if err else None}, gzip=False)


async def info(request):
    return json_response(await info_of(request.app[BRIDGE], _host(request)), gzip=False)


async def info_of(bridge, host) -> dict:
    """``{inputs, outputs}`` of a host's default command."""
    manifest = await bridge.catalog.manifest(host.id)
    cmd = next((c for c in manifest["commands"] if c["name"] == host.default_command), manifest["commands"][0])
    return {"inputs": cmd["inputs"], "outputs": cmd["outputs"]}
