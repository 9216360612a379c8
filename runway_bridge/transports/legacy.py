"""Old entry points, cheap to honour (docs/protocol.md, "Old entry points").

- The Runway desktop app's control API, as the Unity plugin (RunwayML-for-Unity, ``RunwayHub.cs``)
  drives it on ``localhost:5142``: ``GET /v1/healthcheck`` -> ``{"success": true}``; ``GET /v1/models``
  -> ``{"models": [{name, description, defaultVersionId, options, commands}]}``;
  ``GET|POST /v1/model_sessions``, ``GET|DELETE /v1/model_sessions/<id>`` with ``modelSession``
  objects whose ``url`` takes ``POST <url>/<command>``. Served on the daemon's port and, with
  ``--app-api-port 5142``, on a port of its own.
- Runway Hosted Models' HTTP shape (the ``@runwayml/hosted-models`` client): ``GET /v1/`` ->
  ``{"status": "running"}``, ``GET /v1/info``, ``POST /v1/query``, an optional
  ``Authorization: Bearer <token>`` (the daemon's token), answering for the default model.

A model session is a started catalogue model; its id is the model id. ``modelVersionId`` is a
stable number derived from the model id (the app's ids were database rows; the plugin only echoes
them back).
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from datetime import datetime, timezone

from aiohttp import web

from ..appkeys import BRIDGE
from ..errors import BadInput, NotFound
from ._http import json_response, read_json

__all__ = ["setup_legacy", "version_id", "app_shape", "app_entries", "start_app_api", "wants_app_shape"]

log = logging.getLogger(__name__)
SESSIONS = web.AppKey("sessions", dict)
_STATUS = {"RUNNING": "RUNNING", "STARTING": "STARTING", "FAILED": "FAILED", "STOPPED": "STOPPED"}
_HOSTED = {"RUNNING": "running", "STARTING": "awakening"}


def version_id(model_id: str) -> int:
    return zlib.crc32(model_id.encode()) & 0x7FFFFFFF


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z") if t else None


def wants_app_shape(request: web.Request) -> bool:
    """The Unity plugin's UnityWebRequest says who it is; the app-API port always gets that shape."""
    return (request.app.get(APP_API, False) or "X-Unity-Version" in request.headers
            or request.headers.get("User-Agent", "").startswith("UnityPlayer") or request.query.get("shape") == "app")


async def app_shape(bridge, entry) -> dict:
    """The fields the app's model list had: a manifest per model (read once, then cached)."""
    try:
        manifest = await bridge.catalog.manifest(entry.id)
    except Exception as e:  # one broken adapter must not hide the others
        log.warning("model list: no manifest for %s: %s", entry.id, e)
        manifest = {"options": [], "commands": []}
    return {"name": entry.card.get("name", entry.id), "description": entry.card.get("description", ""),
            "defaultVersionId": version_id(entry.id), "options": manifest.get("options", []),
            "commands": manifest.get("commands", [])}


async def healthcheck(request):
    return json_response({"success": True})


async def app_entries(bridge) -> dict[str, dict]:
    """`app_shape` of every model, by id."""
    sem = asyncio.Semaphore(2)  # manifests are read in child processes: two at a time on a small box

    async def one(entry):
        async with sem:
            return entry.id, await app_shape(bridge, entry)

    return dict(await asyncio.gather(*(one(e) for e in bridge.catalog)))


async def app_models(request):
    shapes = await app_entries(request.app[BRIDGE])
    return json_response({"models": [{"id": model_id, **shape} for model_id, shape in shapes.items()]})


def _session(request, model_id: str) -> dict:
    bridge = request.app[BRIDGE]
    host = bridge.hosts.get(model_id)
    meta = request.app[SESSIONS].get(model_id, {})
    state = host.state.value if host else "STOPPED"
    port = request.app[MAIN_PORT] if request.app.get(MAIN_PORT) else request.transport.get_extra_info("sockname")[1]
    return {"id": model_id, "createdAt": _iso(meta.get("created")), "startedRunningAt": _iso(meta.get("running")),
            "endedAt": None, "runningStatus": _STATUS[state], "persistent": False,
            "url": f"http://127.0.0.1:{port}/v1/models/{model_id}/commands",
            "application": meta.get("application", "runway_bridge"), "modelVersionId": version_id(model_id),
            "providerOptions": meta.get("providerOptions", {"runLocation": "Local"}),
            "model": {"name": bridge.entry(model_id).card.get("name", model_id)},
            "error": host.error.message if host and host.error else None}


def _note_running(request, model_id: str) -> None:
    meta = request.app[SESSIONS].get(model_id)
    host = request.app[BRIDGE].hosts.get(model_id)
    if meta is not None and host is not None and host.state.value == "RUNNING" and not meta.get("running"):
        meta["running"] = time.time()


async def list_sessions(request):
    hosts = request.app[BRIDGE].hosts
    ids = [m for m, h in hosts.items() if h.state.value != "STOPPED"]
    for m in ids:
        _note_running(request, m)
    return json_response({"modelSessions": [_session(request, m) for m in ids]})


async def get_session(request):
    model_id = request.match_info["sid"]
    request.app[BRIDGE].entry(model_id)
    _note_running(request, model_id)
    return json_response({"modelSession": _session(request, model_id)})


async def run_session(request):
    """``{modelVersionId, modelOptions, application, providerOptions}`` -> ``{modelSession}``."""
    bridge = request.app[BRIDGE]
    body = await read_json(request, allow_empty=False)
    vid, options = body.get("modelVersionId"), body.get("modelOptions") or {}
    if not isinstance(options, dict):
        raise BadInput("modelOptions must be an object", field="modelOptions")
    by_version = {version_id(e.id): e.id for e in bridge.catalog}
    model_id = by_version.get(vid) if isinstance(vid, int) and not isinstance(vid, bool) else None
    if model_id is None:
        raise NotFound(f"no model has modelVersionId {vid!r}; GET /v1/models lists each model's defaultVersionId")
    app_name = body.get("application")
    bridge.start(model_id, options)
    request.app[SESSIONS][model_id] = {"created": time.time(), "providerOptions": body.get("providerOptions"),
                                       "application": app_name if isinstance(app_name, str) else "runway_bridge"}
    return json_response({"modelSession": _session(request, model_id)}, status=201)


async def stop_session(request):
    model_id = request.match_info["sid"]
    await request.app[BRIDGE].stop(model_id)
    request.app[SESSIONS].pop(model_id, None)
    return json_response({"success": True})


# -- Hosted Models -------------------------------------------------------------------------------


async def hosted_root(request):
    bridge = request.app[BRIDGE]
    state = bridge.status(bridge.default_id)["state"] if bridge.default_id else "STOPPED"
    return json_response({"status": _HOSTED.get(state, "asleep")})


async def hosted_info(request):
    from .http import info_of

    bridge = request.app[BRIDGE]
    return json_response(await info_of(bridge, bridge.host(None)))


async def hosted_query(request):
    from ..wire import outputs_to_json
    from ._http import output_formats

    host = request.app[BRIDGE].host(None)
    result = await host.call(None, await read_json(request), formats=output_formats(request))
    return json_response(outputs_to_json(result.outputs))


# -- routes and the app-API port -------------------------------------------------------------------

APP_API = web.AppKey("app_api", bool)
MAIN_PORT = web.AppKey("main_port", int)


def add_control_routes(app: web.Application) -> None:
    app[SESSIONS] = app.get(SESSIONS, {})
    r = app.router
    r.add_get("/v1/healthcheck", healthcheck)
    r.add_get("/v1/model_sessions", list_sessions)
    r.add_post("/v1/model_sessions", run_session)
    r.add_get("/v1/model_sessions/{sid}", get_session)
    r.add_delete("/v1/model_sessions/{sid}", stop_session)


def setup_legacy(app: web.Application) -> None:
    """Both shapes on the daemon's app (``GET /v1/models`` is http.py's, which defers to `app_shape`)."""
    add_control_routes(app)
    r = app.router
    r.add_get("/v1/", hosted_root)
    r.add_get("/v1", hosted_root)
    r.add_get("/v1/info", hosted_info)
    r.add_post("/v1/query", hosted_query)
    port = app[BRIDGE].config.app_api_port
    if port is not None:
        app.cleanup_ctx.append(lambda main: start_app_api(main, port))


async def start_app_api(main: web.Application, port: int):
    """The control API on a port of its own (the Unity plugin hard-codes 5142): a small app with the
    same bridge, access policy and middlewares. A busy port is a warning, not a failure."""
    from .. import access
    from ._http import BODY_TIMEOUT, BROWSER_JSON, DEBUG, PUBLIC, RAW_BODIES, TOKEN

    sub = web.Application(middlewares=main.middlewares, client_max_size=main._client_max_size,
                          handler_args=main._handler_args)  # the same bounds: raw bodies, timeouts
    sub[BRIDGE], sub[APP_API], sub[SESSIONS] = main[BRIDGE], True, main[SESSIONS]
    sub[MAIN_PORT] = main[BRIDGE].config.port
    sub[PUBLIC] = (("/v1/healthcheck",), (), ())
    for key in (access.ACCESS, DEBUG, TOKEN, RAW_BODIES, BODY_TIMEOUT, BROWSER_JSON):
        if key in main:
            sub[key] = main[key]
    add_control_routes(sub)
    sub.router.add_get("/v1/models", app_models)
    runner = web.AppRunner(sub, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, main[BRIDGE].config.host, port, reuse_address=True)
    try:
        await site.start()
        log.info("Desktop-app control API (Unity plugin) on http://%s:%d", main[BRIDGE].config.host, port)
    except OSError as e:
        log.warning("warning: the desktop-app control API cannot listen on port %d (%s); "
                    "it still answers on the daemon's port", port, e.strerror)
    yield
    await runner.cleanup()
