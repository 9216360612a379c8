"""The Runway model-server protocol (DESIGN 3.1, exact) for one model: ``python model.py``.

``GET /`` and ``/meta`` describe the model, ``/healthcheck`` says STARTING or RUNNING (the port is
bound before setup runs), ``POST /setup`` reloads with options, ``POST /<command>`` runs one, and a
WebSocket on ``/`` speaks the job protocol: ``submit``/``cancel`` in, ``started``/``output``/
``succeeded``/``failed``/``cancelled`` out.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import WSMsgType, web

from .. import __version__
from ..errors import BadInput, BridgeError, NotFound
from ..host import Host, HostState
from ..wire import outputs_to_json
from ._http import DEBUG, TOKEN, json_response, middleware, output_formats, read_json

HOST = web.AppKey("host", Host)
MANIFEST = web.AppKey("manifest", dict)


def create_app(host: Host, manifest: dict, *, debug: bool = False, token: str | None = None,
               max_body: int = 64 * 1024 * 1024) -> web.Application:
    app = web.Application(middlewares=[middleware], client_max_size=max_body)
    app[HOST], app[MANIFEST], app[DEBUG] = host, manifest, debug
    if token:
        app[TOKEN] = token
    app.router.add_get("/", root)
    app.router.add_get("/meta", meta)
    app.router.add_get("/healthcheck", healthcheck)
    app.router.add_post("/setup", setup)
    app.router.add_get("/{command}", command_schema)
    app.router.add_post("/{command}", run_command)
    return app


def _meta(request: web.Request) -> dict:
    host = request.app[HOST]
    now = time.time()
    return {
        "modelSDKVersion": __version__,
        "millisRunning": int((now - host.started_at) * 1000),
        "millisSinceLastCommand": int((now - host.last_command_at) * 1000) if host.last_command_at else None,
        "GPU": bool(host.backend.gpu),
        **request.app[MANIFEST],
    }


async def root(request: web.Request):
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await jobs(request)
    return json_response(_meta(request))


async def meta(request: web.Request):
    return json_response(_meta(request))


async def healthcheck(request: web.Request):
    state = request.app[HOST].state
    if state is HostState.FAILED:
        return json_response({"status": "FAILED", "error": request.app[HOST].error.message})
    return json_response({"status": "RUNNING" if state is HostState.RUNNING else "STARTING"})


async def setup(request: web.Request):
    host = request.app[HOST]
    options = await read_json(request)
    await host.start(options)
    if host.state is not HostState.RUNNING:
        raise host.error
    return json_response({"success": True})


def _command(request: web.Request) -> dict:
    name = request.match_info["command"]
    for c in request.app[MANIFEST]["commands"]:
        if c["name"] == name:
            return c
    raise NotFound(f"unknown command {name!r}; this model has {[c['name'] for c in request.app[MANIFEST]['commands']]}")


async def command_schema(request: web.Request):
    return json_response(_command(request))


async def run_command(request: web.Request):
    name = _command(request)["name"]
    inputs = await read_json(request)
    result = await request.app[HOST].call(name, inputs, formats=output_formats(request))
    return json_response(outputs_to_json(result.outputs))


def _job_formats(raw) -> dict | None:
    """A job's ``"formats": {"image": "PNG"}``, as ``X-Runway-Output-Format`` gives them."""
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise BadInput("'formats' must be an object like {\"image\": \"PNG\"}")
    out = {}
    for name, fmt in raw.items():
        if str(fmt).strip().upper() not in ("JPEG", "PNG"):
            raise BadInput(f"output format {fmt!r} is not JPEG or PNG")
        out[str(name)] = str(fmt).strip().lower()
    return out


async def jobs(request: web.Request) -> web.WebSocketResponse:
    """The WebSocket job protocol: each job runs through the host's bounded queue."""
    host = request.app[HOST]
    ws = web.WebSocketResponse(compress=False, max_msg_size=request.app._client_max_size)
    await ws.prepare(request)
    running: dict[str, asyncio.Task] = {}

    async def send(msg: dict) -> None:
        if not ws.closed:
            await ws.send_str(json.dumps(msg))

    async def job(job_id: str, command: str, inputs: dict, formats: dict | None) -> None:
        await send({"type": "started", "id": job_id})

        def partial(r):
            if job_id in running:
                asyncio.ensure_future(send({"type": "output", "id": job_id, "output": outputs_to_json(r.outputs),
                                            "progress": r.progress}))

        try:
            result = await host.call(command, inputs, formats=formats, on_partial=partial)
            await send({"type": "succeeded", "id": job_id, "output": outputs_to_json(result.outputs)})
        except asyncio.CancelledError:
            await send({"type": "cancelled", "id": job_id})
        except BridgeError as e:
            await send({"type": "failed", "id": job_id, "status": e.status, **e.to_dict(request.app[DEBUG])})
        finally:
            running.pop(job_id, None)

    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            await send({"type": "failed", "id": None, "error": "send JSON text messages", "status": 400})
            continue
        try:
            data = json.loads(msg.data)
            kind, job_id = data["type"], str(data.get("id", ""))
            if kind == "submit":
                if not isinstance(data.get("inputs", {}), dict):
                    raise BadInput("'inputs' must be an object")
                command = data.get("command") or request.app[MANIFEST]["commands"][0]["name"]
                formats = _job_formats(data.get("formats"))
                running[job_id] = asyncio.ensure_future(job(job_id, command, data.get("inputs", {}), formats))
            elif kind == "cancel":
                task = running.get(job_id)
                if task is None:
                    raise BadInput(f"no running job {job_id!r} to cancel")
                task.cancel()
            else:
                raise BadInput(f"unknown message type {kind!r}; use submit or cancel")
        except (ValueError, KeyError, TypeError) as e:
            await send({"type": "failed", "id": None, "error": f"malformed message: {e}", "status": 400})
        except BridgeError as e:
            await send({"type": "failed", "id": data.get("id"), "error": e.message, "status": e.status})
    for task in running.values():
        task.cancel()
    return ws
