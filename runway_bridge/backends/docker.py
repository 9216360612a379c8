"""Run a model in a Docker container that serves the model-server protocol (DESIGN 3.1).

The image comes from `runway-bridge build ID` (`runway_bridge.docker_build`): the adapter at
``/adapter`` and ``runway-bridge run /adapter`` as its command. The container shares the host's
network and its server binds ``127.0.0.1:<a free port>``, so nothing is published and no bridge
network or iptables is needed. The server binds before setup runs, so ``/healthcheck`` says
STARTING during a long load (`DockerBackend.health` follows it), then RUNNING or FAILED.

Calls are ``POST /<command>`` on one keep-alive aiohttp session. aiohttp sets ``TCP_NODELAY`` on
every connection it opens and writes a small request in one piece, so no request waits ~40 ms
on a delayed ACK (the old Runway SDK's trap, REFERENCE section 2).

A call that wants a generator's steps (``on_partial``: a stream, a WebSocket job) goes over the
model server's WebSocket job protocol on ``/`` instead, since ``POST`` answers with the last step
only: one socket per container, opened on the first such call and reused, ``submit`` with a job
id, each ``output`` to ``on_partial`` (converted like the final outputs), ``succeeded`` or
``failed`` to end it. A call whose caller gives up (cancelled, timed out) sends ``cancel`` for its
job, so the container stops sending its steps.

The card's ``[docker]`` table::

    [docker]
    memory = "2g"         # hard limit, swap included (default 4g); too low and the model is OOM-killed
    gpus = "all"          # or a count; passed as a device request (needs the NVIDIA container toolkit)
    image = "..."         # default runway-bridge/<id>:latest
    startup_timeout = 300 # seconds for setup to finish

Every failure says what to do: the Docker SDK or engine missing, the image not built, the
container exiting or being OOM-killed during setup (with its last log lines).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import re
import socket
import time
from collections.abc import Callable

import numpy as np

from ..docker_build import docker_client, image_tag
from ..errors import (
    BackendUnavailable,
    BadInput,
    BridgeError,
    Conflict,
    InferenceError,
    ModelCrashed,
    SetupError,
    from_status,
)
from ..types import Blob, encode_image
from .base import Backend, BackendState, Pending

__all__ = ["DockerBackend", "DEFAULT_MEMORY"]

log = logging.getLogger("runway_bridge.docker")

DEFAULT_MEMORY = "4g"
LOG_LINES = 20
LABEL = "org.runway-bridge.model"
_IMAGE_TYPES = ("image", "segmentation")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _gpu_count(value) -> int:
    """The card's ``gpus`` as a device-request count: 0 none, -1 all."""
    if value in (None, False, 0, "0", "", "none"):
        return 0
    if value is True or value == "all":
        return -1
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadInput(f"[docker] gpus must be 'all' or a count, not {value!r}") from None


def _to_wire(value):
    """Inputs as JSON values: `Blob`s and pixel arrays become data URIs."""
    if isinstance(value, Blob):
        if value.format == "raw":
            pixels = np.frombuffer(value.data, np.uint8).reshape(value.shape)
            return Blob("png", encode_image(pixels, "png")).to_data_uri()
        return value.to_data_uri()
    if isinstance(value, np.ndarray):
        if value.dtype == np.uint8 and value.ndim in (2, 3):
            return Blob("png", encode_image(value, "png")).to_data_uri()
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_wire(v) for v in value]
    return value


def _to_blob(value, schema: dict):
    """Image outputs (data URIs) to `Blob`s, following the output's schema."""
    kind = schema.get("type")
    if kind in _IMAGE_TYPES and isinstance(value, str) and value.startswith("data:image/"):
        fmt = "png" if value.startswith("data:image/png") else "jpeg"
        return Blob(fmt, base64.b64decode(value[value.find(",") + 1 :]))
    if kind == "array" and isinstance(value, list) and isinstance(schema.get("itemType"), dict):
        return [_to_blob(v, schema["itemType"]) for v in value]
    return value


def _status_error(status: int, payload, fallback: str, error_cls: type[BridgeError] = InferenceError) -> BridgeError:
    """A model server's error answer (HTTP status and JSON body, or a ``failed`` job) as our error."""
    body = payload if isinstance(payload, dict) else {}
    err = from_status(status, body.get("error") or fallback, field=body.get("field"), server_error=error_cls)
    if body.get("traceback"):
        err.traceback = body["traceback"]
    return err


class _Job(Pending):
    """One call in flight on the job socket."""

    def __init__(self, command: str, future: asyncio.Future, on_partial, binary: bool):
        super().__init__(future, on_partial)
        self.command, self.binary = command, binary
        self.last: dict | None = None  # the latest `outputData`: a partial once the next arrives
        self.steps = 0


class DockerBackend(Backend):
    """One model in one container; see the module docstring.

    `health` is the container's last ``/healthcheck`` status (None before it answers), `url` its
    base URL, `container` the Docker SDK object while it runs.
    """

    kind = "docker"

    def __init__(self, model_dir, card=None, *, image: str | None = None, memory: str | None = None,
                 gpus=None, host: str = "127.0.0.1", startup_timeout: float | None = None,
                 command: list[str] | None = None, client=None,
                 on_health: Callable[[str], None] | None = None):
        super().__init__(model_dir, card)
        self.model_id = str(self.card.get("id") or self.model_dir.name)
        conf = self.card.get("docker") or {}
        self.image = image or conf.get("image") or image_tag(self.model_id)
        self.memory = str(memory or conf.get("memory") or DEFAULT_MEMORY).strip().lower()
        if not re.fullmatch(r"\d+[bkmg]?", self.memory):
            raise BadInput(f"[docker] memory must look like '512m' or '4g', not {self.memory!r}")
        self.gpus = _gpu_count(gpus if gpus is not None else conf.get("gpus"))
        self.gpu = self.gpus != 0
        self.host = host
        self.startup_timeout = float(startup_timeout or conf.get("startup_timeout") or 300)
        self.command = command  # None: the image's own CMD (runway-bridge run /adapter)
        self.on_health = on_health
        self.health: str | None = None
        self.url: str | None = None
        self.container = None
        self._client = client
        self._session = None
        self._manifest: dict | None = None
        self._ws = None  # the job socket (WebSocket on /), opened by the first call with on_partial
        self._ws_reader: asyncio.Task | None = None
        self._ws_lock = asyncio.Lock()
        self._jobs: dict[str, _Job] = {}
        self._job_ids = itertools.count(1)
        self._cancels: set[asyncio.Task] = set()

    # -- Docker calls (blocking: always in a thread) ----------------------------------------
    async def _docker(self, fn, *args, **kwargs):
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _get_client(self):
        if self._client is None:
            self._client = await self._docker(docker_client)
        return self._client

    async def _check_image(self, client) -> None:
        import docker.errors

        try:
            await self._docker(client.images.get, self.image)
        except docker.errors.ImageNotFound:
            raise SetupError(f"the Docker image {self.image} for model {self.model_id} is missing; "
                             f"build it with: runway-bridge build {self.model_id}") from None

    async def _logs(self, lines: int = LOG_LINES) -> str:
        if self.container is None:
            return ""
        try:
            raw = await self._docker(self.container.logs, tail=lines)
        except Exception:  # noqa: BLE001 - the container may be gone; logs are a courtesy
            return ""
        text = raw.decode("utf-8", "replace").rstrip()
        return "\n".join("  | " + line for line in text.splitlines())

    async def _exit_info(self) -> dict | None:
        """The container's State when it is no longer running, else None."""
        if self.container is None:
            return {}
        try:
            await self._docker(self.container.reload)
        except Exception:  # noqa: BLE001 - removed behind our back: treat it as exited
            return {}
        state = self.container.attrs.get("State", {})
        return None if state.get("Running") else state

    async def _exited_error(self, state: dict, cls: type[BridgeError], during: str) -> BridgeError:
        logs = await self._logs()
        tail = f"\nlast container log lines:\n{logs}" if logs else ""
        where = self.model_dir / "model.toml"
        if state.get("OOMKilled"):
            return cls(f"model {self.model_id} was killed for lack of memory {during}: the memory limit "
                       f"{self.memory} is too low for this model; raise [docker] memory in the card ({where})"
                       + tail)
        code = state.get("ExitCode", "?")
        return cls(f"the container of model {self.model_id} exited with code {code} {during}" + tail)

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self, options: dict) -> None:
        self._transition(BackendState.STARTING)
        try:
            if self.container is not None and await self._exit_info() is None:
                await self._resetup(options)
            else:
                await self._remove()
                await self._launch(options)
        except BaseException:
            self._transition(BackendState.FAILED)
            await self._remove()
            raise
        self._transition(BackendState.RUNNING)

    async def _launch(self, options: dict) -> None:
        client = await self._get_client()
        await self._check_image(client)
        for attempt in range(3):
            try:
                return await self._launch_once(client, options)
            except SetupError as e:
                # The free port we picked was taken before the container bound it: pick another.
                if attempt == 2 or "Cannot listen on" not in e.message:
                    raise
                await self._remove()

    async def _launch_once(self, client, options: dict) -> None:
        import docker.errors
        import docker.types

        port = _free_port(self.host)
        self.url = f"http://{self.host}:{port}"
        kwargs = dict(
            detach=True, network_mode="host", init=True,
            mem_limit=self.memory, memswap_limit=self.memory,
            name=f"runway-bridge-{self.model_id}-{port}",
            labels={LABEL: self.model_id},
            environment={"RW_HOST": self.host, "RW_PORT": str(port), "RW_MODEL_OPTIONS": json.dumps(options or {}),
                         "GPU": "1" if self.gpu else "0", "PYTHONUNBUFFERED": "1"},
        )
        if self.command is not None:
            kwargs["command"] = self.command
        if self.gpus:
            kwargs["device_requests"] = [docker.types.DeviceRequest(count=self.gpus, capabilities=[["gpu"]])]
        try:
            self.container = await self._docker(client.containers.run, self.image, **kwargs)
        except docker.errors.APIError as e:
            msg = e.explanation or str(e)
            try:  # `run` creates before it starts: a start that failed leaves a Created container
                await self._docker(lambda: client.containers.get(kwargs["name"]).remove(force=True))
            except docker.errors.APIError:
                pass
            if self.gpus and ("gpu" in msg.lower() or "device driver" in msg.lower()):
                raise BackendUnavailable(f"model {self.model_id} asks for GPUs but Docker cannot give them ({msg}); "
                                         "install the NVIDIA container toolkit, or set [docker] gpus = 0") from None
            raise SetupError(f"Docker could not start model {self.model_id}: {msg}") from None
        await self._open_session()
        await self._wait_ready()

    async def _open_session(self) -> None:
        import aiohttp

        if self._session is None or self._session.closed:
            # One keep-alive connection pool for the container's lifetime; aiohttp sets TCP_NODELAY.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=8, keepalive_timeout=60),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
                json_serialize=lambda o: json.dumps(o, separators=(",", ":")))

    async def _probe(self) -> dict | None:
        import aiohttp

        try:
            async with self._session.get(self.url + "/healthcheck", timeout=aiohttp.ClientTimeout(total=2)) as r:
                return await r.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None

    def _set_health(self, status: str | None) -> None:
        if status != self.health:
            self.health = status
            if status is not None and self.on_health is not None:
                self.on_health(status)

    async def _wait_ready(self) -> None:
        """Poll /healthcheck until RUNNING; fail on FAILED, on the container exiting, or on timeout."""
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.05
        while True:
            status = await self._probe()
            if status is not None:
                self._set_health(status.get("status"))
                if self.health == "RUNNING":
                    break
                if self.health == "FAILED":
                    logs = await self._logs()
                    raise SetupError(f"model {self.model_id} failed in setup: {status.get('error')}"
                                     + (f"\nlast container log lines:\n{logs}" if logs else ""))
            state = await self._exit_info()
            if state is not None:
                raise await self._exited_error(state, SetupError, "during setup")
            if time.monotonic() > deadline:
                logs = await self._logs()
                raise SetupError(f"model {self.model_id} was not ready after {self.startup_timeout:g} s "
                                 f"(health {self.health or 'no answer'}); raise [docker] startup_timeout if it "
                                 f"needs longer" + (f"\nlast container log lines:\n{logs}" if logs else ""))
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        await self._load_manifest()

    async def _resetup(self, options: dict) -> None:
        """The container still runs: POST /setup with the new options instead of starting afresh."""
        self._set_health("STARTING")
        await self._request("setup", options or {}, during="during setup", error_cls=SetupError)
        self._set_health("RUNNING")

    async def _load_manifest(self) -> None:
        async with self._session.get(self.url + "/meta") as r:
            meta = await r.json(content_type=None)
        self._manifest = {"options": meta.get("options", []), "commands": meta.get("commands", [])}
        self.gpu = bool(meta.get("GPU", self.gpu))

    async def manifest(self) -> dict:
        """The model's options and commands: from the running container, else ``RW_META=1`` in a throwaway one."""
        if self._manifest is not None:
            return self._manifest
        client = await self._get_client()
        await self._check_image(client)
        import docker.errors

        try:
            out = await self._docker(client.containers.run, self.image, environment={"RW_META": "1"},
                                     network_mode="none", remove=True, stderr=False, init=True)
        except docker.errors.ContainerError as e:
            err = (e.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-LOG_LINES:]
            raise SetupError(f"the image {self.image} could not describe its model (RW_META=1 exited with "
                             f"{e.exit_status}):\n" + "\n".join("  | " + line for line in err)) from None
        for line in reversed(out.decode("utf-8", "replace").splitlines()):
            if line.startswith("{"):
                meta = json.loads(line)
                return {"options": meta.get("options", []), "commands": meta.get("commands", [])}
        raise SetupError(f"the image {self.image} printed no manifest with RW_META=1")

    async def stop(self) -> None:
        self._transition(BackendState.STOPPED)
        await self._remove()

    async def _remove(self) -> None:
        await self._close_jobs(Conflict(f"model {self.model_id} was stopped"))
        if self._session is not None:
            await self._session.close()
            self._session = None
        container, self.container = self.container, None
        self._manifest = None
        self._set_health(None)
        if container is None:
            return
        try:
            await self._docker(container.stop, timeout=5)
        except Exception:  # noqa: BLE001 - already stopped or gone
            pass
        try:
            await self._docker(container.remove, force=True)
        except Exception:  # noqa: BLE001 - already removed
            pass

    # -- calls ------------------------------------------------------------------------------
    async def _request(self, path: str, body: dict, *, headers: dict | None = None, during: str,
                       error_cls: type[BridgeError] = InferenceError):
        import aiohttp

        try:
            async with self._session.post(f"{self.url}/{path}", data=json.dumps(body, separators=(",", ":")),
                                          headers={"Content-Type": "application/json", **(headers or {})}) as r:
                raw = await r.read()
                status = r.status
        except (aiohttp.ClientError, ConnectionError) as e:
            state = await self._exit_info()
            if state is not None:
                raise await self._exited_error(state, ModelCrashed, during) from None
            raise ModelCrashed(f"lost the connection to model {self.model_id}'s container {during}: {e}") from None
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = {"error": raw[:500].decode("utf-8", "replace")}
        if status != 200:
            raise _status_error(status, payload, f"HTTP {status} from model {self.model_id}", error_cls)
        return payload

    async def call(self, command, inputs, *, binary=False, formats=None, timings=None, on_partial=None):
        """POST the inputs to the container, or run a job on its socket when the caller wants steps."""
        if self.state is not BackendState.RUNNING:
            raise Conflict(f"model {self.model_id} is {self.state.value}, not RUNNING")
        t0 = time.perf_counter()
        if on_partial is not None:
            outputs = await self._job(command, _to_wire(inputs), formats, binary, on_partial)
        else:
            headers = {}
            if formats:
                headers["X-Runway-Output-Format"] = ",".join(f"{k}={v.upper()}" for k, v in formats.items())
            outputs = await self._request(command, _to_wire(inputs), headers=headers, during=f"running {command!r}")
        if timings is not None:
            timings["model"] = (time.perf_counter() - t0) * 1000  # the container's whole round trip
        return self._outputs(command, outputs, binary)

    def _outputs(self, command: str, outputs, binary: bool):
        """The container's JSON outputs, with image data URIs as `Blob`s for a binary caller."""
        if binary and isinstance(outputs, dict):
            schema = next((c for c in (self._manifest or {}).get("commands", []) if c.get("name") == command), {})
            for field in schema.get("outputs", []):
                if field.get("name") in outputs:
                    outputs[field["name"]] = _to_blob(outputs[field["name"]], field)
        return outputs

    # -- the job socket ---------------------------------------------------------------------
    async def _lost_error(self, during: str, why: str) -> BridgeError:
        state = await self._exit_info()
        if state is not None:
            return await self._exited_error(state, ModelCrashed, during)
        return ModelCrashed(f"lost the connection to model {self.model_id}'s container {during}: {why}")

    async def _job_socket(self):
        """The open job socket, opening it on first use (one per container, reused by every job)."""
        import aiohttp

        if self._ws is not None and not self._ws.closed:
            return self._ws
        async with self._ws_lock:
            if self._ws is None or self._ws.closed:
                try:
                    ws = await self._session.ws_connect(self.url + "/", compress=0, max_msg_size=0,
                                                        autoping=True, timeout=aiohttp.ClientWSTimeout(ws_close=2))
                except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError) as e:
                    raise await self._lost_error("opening its job socket", str(e) or type(e).__name__) from None
                self._ws = ws
                self._ws_reader = asyncio.ensure_future(self._read_jobs(ws))
        return self._ws

    async def _job(self, command: str, inputs: dict, formats: dict | None, binary: bool, on_partial) -> dict:
        import aiohttp

        ws = await self._job_socket()
        job_id = str(next(self._job_ids))
        job = self._jobs[job_id] = _Job(command, asyncio.get_running_loop().create_future(), on_partial, binary)
        message = {"type": "submit", "id": job_id, "command": command, "inputData": inputs}
        if formats:
            message["formats"] = {k: str(v).upper() for k, v in formats.items()}
        try:
            try:
                await ws.send_str(json.dumps(message, separators=(",", ":")))
            except (aiohttp.ClientError, ConnectionError) as e:
                raise await self._lost_error(f"running {command!r}", str(e) or type(e).__name__) from None
            return await job.future
        except asyncio.CancelledError:
            if not job.future.done():  # the caller gave up: tell the container to stop sending steps
                task = asyncio.ensure_future(self._send_cancel(ws, job_id))
                self._cancels.add(task)
                task.add_done_callback(self._cancels.discard)
            raise
        finally:
            self._jobs.pop(job_id, None)

    async def _send_cancel(self, ws, job_id: str) -> None:
        try:
            if not ws.closed:
                await ws.send_str(json.dumps({"type": "cancel", "id": job_id}))
        except Exception as e:  # noqa: BLE001 - the socket went away: nothing left to cancel
            log.debug("could not cancel job %s of %s: %s", job_id, self.model_id, e)

    async def _read_jobs(self, ws) -> None:
        """Route the container's job messages to their calls; fail them all if the socket drops."""
        import aiohttp

        why = "the connection closed"
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                try:
                    self._on_job_message(json.loads(msg.data))
                except (ValueError, TypeError, AttributeError) as e:
                    log.warning("model %s sent a malformed job message: %s", self.model_id, e)
            if ws.exception() is not None:
                why = str(ws.exception()) or type(ws.exception()).__name__
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure of the link fails the jobs on it
            why = f"{type(e).__name__}: {e}"
        if ws is not self._ws:
            return
        self._ws = self._ws_reader = None
        if self._jobs:
            jobs = list(self._jobs.values())
            err = await self._lost_error(f"running {jobs[0].command!r}", why)
            for job in jobs:
                job.finish(error=err)

    def _on_job_message(self, msg: dict) -> None:
        kind, job = msg.get("type"), self._jobs.get(str(msg.get("id")))
        if job is None:
            if kind == "failed" and msg.get("id") is None:
                log.warning("model %s refused a job message: %s", self.model_id, msg.get("error"))
            return  # started, or a late answer to a call that gave up
        if kind == "output":  # every step comes as one; the last is the result (the old SDK's protocol)
            if job.last is not None and job.on_partial is not None and not job.future.done():
                job.on_partial(self._outputs(job.command, job.last, job.binary), job.steps)
            job.steps += 1
            job.last = msg.get("outputData") or {}
        elif kind == "succeeded":
            job.finish(result=job.last or {})
        elif kind == "failed":
            status = int(msg.get("status") or 500)
            job.finish(error=_status_error(status, msg, f"job failed with status {status} in model {self.model_id}"))
        elif kind == "cancelled":
            job.finish(error=Conflict(f"model {self.model_id} cancelled the job running {job.command!r}"))

    async def _close_jobs(self, error: BridgeError) -> None:
        ws, self._ws = self._ws, None
        reader, self._ws_reader = self._ws_reader, None
        jobs, self._jobs = list(self._jobs.values()), {}
        for job in jobs:
            job.finish(error=error)
        if reader is not None and not reader.done():
            reader.cancel()
        if ws is not None and not ws.closed:
            try:
                await ws.close()
            except Exception:  # noqa: BLE001 - already gone
                pass
