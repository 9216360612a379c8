"""The Runway model-server protocol (DESIGN 3.1, exact) for one model: ``python model.py``.

``GET /`` and ``/meta`` describe the model, ``/healthcheck`` says STARTING or RUNNING (the port is
bound before setup runs), ``POST /setup`` reloads with options (a rejected one keeps the previous
model serving), ``POST /<command>`` runs one, and a WebSocket on ``/`` speaks the old SDK's job
protocol: ``submit`` (``inputData``) and ``cancel`` in; ``started``, one ``output``
(``outputData``, and ``progress`` when a generator step gave one) per step, then ``succeeded``
(``timeElapsed``), ``failed`` or ``cancelled`` out. Errors carry the old SDK's messages
(``Unknown command: x.``, ``Error during inference: ...``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from aiohttp import WSMsgType, web

from .. import jsonsafe
from ..errors import BadInput, BridgeError, UnknownCommandError
from ..host import Host, HostState
from ..wire import outputs_to_json
from ._http import DEBUG, TOKEN, json_response, middleware, output_formats, read_json

log = logging.getLogger(__name__)

HOST = web.AppKey("host", Host)
MANIFEST = web.AppKey("manifest", dict)
MAX_JOB_ID = 128
# What ``/meta`` says as ``modelSDKVersion``: the old SDK release whose protocol this server speaks
# (clients compare it with the SDK they know; runway_bridge's own version is another matter).
SDK_VERSION = "0.6.1"


@web.middleware
async def _old_statuses(request: web.Request, handler):
    """The old SDK's bodies for routing errors: ``{"error": "Not found."}`` and friends."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        raise _status(404, "Not found.") from None
    except web.HTTPMethodNotAllowed:
        raise _status(405, "Method not allowed.") from None


def _status(status: int, message: str) -> BridgeError:
    err = BridgeError(message)
    err.status = status
    return err


def create_app(host: Host, manifest: dict, *, debug: bool = False, token: str | None = None,
               max_body: int = 64 * 1024 * 1024) -> web.Application:
    app = web.Application(middlewares=[middleware, _old_statuses], client_max_size=max_body)
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
        "modelSDKVersion": SDK_VERSION,
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


async def _body(request: web.Request) -> dict:
    try:
        return await read_json(request)
    except BadInput as e:  # the old SDK's words, then ours
        err = BadInput(f"The body of all POST requests must contain JSON ({e.message})")
        err.status = e.status  # 400, or 408 for a body that never came
        raise err from None


async def setup(request: web.Request):
    host = request.app[HOST]
    options = await _body(request)
    reload = getattr(host.backend, "reload", None)
    if host.state is HostState.RUNNING and reload is not None:
        await reload(options)  # raises, and the previous model keeps serving
        host.options = dict(options)
    else:
        await host.start(options)
        if host.state is not HostState.RUNNING:
            raise host.error
    return json_response({"success": True})


def _command(request: web.Request, name: str | None = None) -> dict:
    name = name if name is not None else request.match_info["command"]
    for c in request.app[MANIFEST]["commands"]:
        if c["name"] == name:
            return c
    raise UnknownCommandError(name)


async def command_schema(request: web.Request):
    return json_response(_command(request))


async def run_command(request: web.Request):
    name = _command(request)["name"]
    inputs = await _body(request)
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


def _job_id(data: dict):
    """The client's job id as it sent it (echoed unchanged), or a fresh one it can cancel by."""
    if "id" not in data or data["id"] is None:
        return uuid.uuid4().hex
    job_id = data["id"]
    if isinstance(job_id, bool) or not isinstance(job_id, (str, int, float)) or len(str(job_id)) > MAX_JOB_ID:
        raise BadInput(f"a job 'id' must be a string or number of at most {MAX_JOB_ID} characters")
    return job_id


async def jobs(request: web.Request) -> web.WebSocketResponse:
    """The WebSocket job protocol: each job runs through the host's bounded queue.

    Messages go out through one ordered queue, so a generator's ``output`` steps (sent from the
    model's thread) always precede the job's ``succeeded``.
    """
    host, debug = request.app[HOST], request.app[DEBUG]
    ws = web.WebSocketResponse(compress=False, max_msg_size=request.app._client_max_size)
    await ws.prepare(request)
    running: dict[object, asyncio.Task] = {}
    outbox: asyncio.Queue = asyncio.Queue()

    async def writer() -> None:
        while True:
            msg = await outbox.get()
            if ws.closed:
                continue
            try:
                await ws.send_str(jsonsafe.dumps(msg))
            except BridgeError as e:  # an output too deep to encode fails its job, not the socket
                await ws.send_str(jsonsafe.dumps({"type": "failed", "id": msg.get("id"), "error": e.message,
                                                  "status": e.status}))
            except ConnectionError:
                pass

    def output_message(job_id, outputs, progress) -> dict:
        msg = {"type": "output", "id": job_id, "outputData": outputs_to_json(outputs)}
        if progress is not None:
            msg["progress"] = progress
        return msg

    async def job(job_id, command: str, inputs, formats: dict | None) -> None:
        started = time.monotonic()
        sent = []

        def partial(r):
            if job_id in running:
                sent.append(r.outputs)
                outbox.put_nowait(output_message(job_id, r.outputs, r.progress))

        try:
            if not isinstance(inputs, dict):
                raise BadInput("'inputData' must be an object of the command's inputs")
            _command(request, command)
            result = await host.call(command, inputs, formats=formats, on_partial=partial)
            if not sent or sent[-1] is not result.outputs:  # a backend that holds back the last step
                outbox.put_nowait(output_message(job_id, result.outputs, getattr(result.outputs, "progress", None)))
            outbox.put_nowait({"type": "succeeded", "id": job_id,
                               "timeElapsed": int((time.monotonic() - started) * 1000)})
        except asyncio.CancelledError:
            outbox.put_nowait({"type": "cancelled", "id": job_id})
        except BridgeError as e:
            outbox.put_nowait({"type": "failed", "id": job_id, "status": e.status, **e.to_dict(debug)})
        finally:
            running.pop(job_id, None)

    write_task = asyncio.ensure_future(writer())
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                outbox.put_nowait({"type": "failed", "id": None, "error": "send JSON text messages", "status": 400})
                continue
            job_id = None
            try:
                data = jsonsafe.loads(msg.data)
                if not isinstance(data, dict):
                    raise BadInput("a job message must be a JSON object with a 'type'")
                kind = data.get("type")
                if kind == "submit":
                    job_id = _job_id(data)
                    if job_id in running:
                        log.warning("ignoring a second submit of running job %r", job_id)
                        continue
                    commands = request.app[MANIFEST]["commands"]
                    command = data.get("command") or (commands[0]["name"] if commands else "")
                    inputs = data.get("inputData", data.get("inputs", {}))
                    formats = _job_formats(data.get("formats"))
                    outbox.put_nowait({"type": "started", "id": job_id})
                    running[job_id] = asyncio.ensure_future(job(job_id, str(command), inputs, formats))
                elif kind == "cancel":
                    task = running.get(data.get("id"))
                    if task is None:
                        raise BadInput(f"no running job {data.get('id')!r} to cancel")
                    task.cancel()
                else:
                    raise BadInput(f"unknown message type {kind!r}; use submit or cancel")
            except BridgeError as e:
                outbox.put_nowait({"type": "failed", "id": job_id, "status": e.status, **e.to_dict()})
    finally:
        for task in running.values():
            task.cancel()
        if running:
            await asyncio.gather(*running.values(), return_exceptions=True)
        write_task.cancel()
    return ws
