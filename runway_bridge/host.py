"""One running model: its lifecycle, its request queue and stream slots, and result fan-out.

Work reaches a model two ways. Request/response calls wait in a bounded queue (full: 503 with
Retry-After). Streams hold **one** pending frame each: a newer frame replaces a waiting one and
counts as dropped, so latency stays bounded however fast a client sends. One scheduler task per
model serves the request queue and the streams round robin, one call at a time, so a fast client
cannot starve a slow one and the model never idles while work waits.

Every result also goes to the model's subscribers (the Runway ``data`` listeners on every
transport). Delivery callbacks must not block: each transport keeps its own latest-wins outbox.

Nothing a client sends may kill the scheduler, because a dead scheduler is a model that says
RUNNING and never answers. So frame ids and command names are checked where they enter, outputs
are checked for JSON depth before any transport encodes them, a callback that raises is dropped
(not the model), and the scheduler task is supervised: if it dies anyway, the model goes FAILED
with the reason and every waiting caller gets an error. Frames are charged to the daemon-wide
in-flight byte `Budget` while they are held.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ._ratelimit_log import RateLimitedLog
from .backends.base import Backend, BackendState
from .errors import BackendUnavailable, BadInput, BridgeError, Conflict, InferenceError, NotFound
from .inflight import Budget, frame_bytes
from .jsonsafe import MAX_DEPTH, check_depth

__all__ = ["Host", "HostState", "Result", "Stream"]

log = logging.getLogger(__name__)
_limited = RateLimitedLog(log)
MAX_FRAME_ID = 128  # characters of a string frame id
MAX_COMMAND = 128


def check_frame_id(frame_id) -> None:
    """Frame ids are echoed in every result: short strings and finite numbers only (`BadInput`)."""
    if frame_id is None or (isinstance(frame_id, str) and len(frame_id) <= MAX_FRAME_ID):
        return
    if isinstance(frame_id, int) and not isinstance(frame_id, bool) and abs(frame_id) < 2**63:
        return
    if isinstance(frame_id, float) and math.isfinite(frame_id):
        return
    what = f"a {len(frame_id)}-character string" if isinstance(frame_id, str) else type(frame_id).__name__
    raise BadInput(f"a frame id must be a string of at most {MAX_FRAME_ID} characters or a finite number "
                   f"(a 64-bit integer), got {what}", field="frame")


class HostState(enum.Enum):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    FAILED = "FAILED"
    RESTARTING = "RESTARTING"  # reported only: the host serves, its backend's worker is coming back


@dataclass
class Result:
    """What one piece of work produced: outputs or an error, with its frame id and timings."""

    model: str
    command: str
    outputs: dict | None = None
    error: BridgeError | None = None
    frame_id: object = None
    stream_id: int | None = None
    timings: dict = field(default_factory=dict)
    dropped: int = 0
    progress: int | None = None  # set on the partial outputs of a generator command
    final: bool = True
    encoded: dict = field(default_factory=dict, repr=False)  # wire form per transport, encoded once


@dataclass
class _Job:
    command: str
    inputs: dict
    frame_id: object = None
    received: float = field(default_factory=time.perf_counter)
    future: asyncio.Future | None = None
    on_partial: Callable | None = None
    formats: dict | None = None
    size: int = 0  # bytes charged to the in-flight budget


class Stream:
    """One client's stream into one command: a single pending slot, latest frame wins."""

    _ids = itertools.count(1)

    def __init__(self, host: Host, command: str, deliver: Callable[[Result], None], formats: dict | None):
        self.id = next(self._ids)
        self.host, self.command, self.deliver, self.formats = host, command, deliver, formats
        self.pending: _Job | None = None
        self.received = self.processed = self.dropped = 0
        self.last_latency_ms = 0.0

    def submit(self, inputs: dict, frame_id=None, command: str | None = None) -> None:
        """Offer a frame; it replaces a frame still waiting (which counts as dropped)."""
        self.host.require_running()
        check_frame_id(frame_id)
        command = self.host.check_command(command or self.command)
        size = frame_bytes(inputs)
        old = self.pending.size if self.pending is not None else 0
        self.host.budget.charge(size, self.host.id, release=old)
        self.received += 1
        if self.pending is not None:
            self.dropped += 1
            self.host.metrics.dropped(self.host.id)
        self.pending = _Job(command, inputs, frame_id, size=size)
        self.host.metrics.received(self.host.id)
        self.host._wake.set()

    def close(self) -> None:
        self.host.close_stream(self)


class _NullMetrics:
    def __getattr__(self, name):
        return lambda *a, **k: None


class Host:
    """A model and where it runs: start, stop, call, stream, subscribe."""

    def __init__(self, model_id: str, backend: Backend, *, default_command: str | None = None,
                 queue_size: int = 16, metrics=None, budget: Budget | None = None):
        self.id = model_id
        self.backend = backend
        self.default_command = default_command
        self.state = HostState.STOPPED
        self.error: BridgeError | None = None
        self.options: dict = {}
        self.manifest: dict | None = None
        self.metrics = metrics or _NullMetrics()
        self.budget = budget or Budget()
        self.queue: collections.deque[_Job] = collections.deque()
        self.queue_size = queue_size
        self.streams: list[Stream] = []
        self.subscribers: set[Callable[[Result], None]] = set()
        self.last_data: Result | None = None
        self.last_error: BridgeError | None = None
        self.started_at = time.time()
        self.last_command_at: float | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._starting: asyncio.Task | None = None
        self._rr = 0
        self._running: _Job | None = None  # the job in the backend now, failed by the supervisor if it dies

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, options: dict | None = None) -> asyncio.Task:
        """Begin loading in the background; returns the task that finishes when it is loaded."""
        if self.state is HostState.STARTING and self._starting is not None:
            return self._starting
        self.options = dict(options or {})
        self.state, self.error = HostState.STARTING, None
        self._starting = asyncio.ensure_future(self._start())
        return self._starting

    async def _start(self) -> None:
        try:
            if self.backend.state.value in ("RUNNING", "FAILED"):
                await self.backend.stop()
            await self.backend.start(self.options)
            try:
                self.manifest = await self.backend.manifest()
            except NotImplementedError:
                self.manifest = None
            if self.default_command is None and self.manifest:
                self.default_command = self.manifest["commands"][0]["name"]
        except asyncio.CancelledError:
            self.state = HostState.STOPPED
            raise
        except BridgeError as e:
            self.state, self.error = HostState.FAILED, e
            # debug only: whoever started it (the daemon, the model server) reports it once
            log.debug("model %s failed to start: %s", self.id, e.message)
            return
        except Exception as e:  # a backend bug must not kill the daemon
            self.state, self.error = HostState.FAILED, BridgeError(f"{type(e).__name__}: {e}")
            log.exception("model %s failed to start", self.id)
            return
        self.state = HostState.RUNNING
        self.started_at = time.time()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._serve())
            self._task.add_done_callback(self._supervise)

    def _supervise(self, task: asyncio.Task) -> None:
        """The scheduler ended: cancelled (stop) is fine; anything else fails the model, loudly."""
        if task.cancelled() or task is not self._task:
            return
        exc = task.exception()
        why = f"{type(exc).__name__}: {exc}" if exc else "it returned"
        log.error("model %s: its scheduler died (%s); the model is FAILED, start it again", self.id, why,
                  exc_info=exc)
        self.state = HostState.FAILED
        self.error = BridgeError(f"model {self.id} stopped serving: its scheduler died ({why}); start it again")
        self._task = None
        if self._running is not None:
            self._release(self._running)
            if self._running.future is not None and not self._running.future.done():
                self._running.future.set_exception(self.error)
            self._running = None
        self._fail_waiting(self.error)

    async def stop(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._fail_waiting(Conflict(f"model {self.id} was stopped"))
        try:
            await self.backend.stop()
        finally:
            self.state = HostState.STOPPED

    def _fail_waiting(self, err: BridgeError) -> None:
        if self._running is not None:
            self._release(self._running)
        while self.queue:
            job = self.queue.popleft()
            self._release(job)
            if job.future is not None and not job.future.done():
                job.future.set_exception(err)
        for s in self.streams:
            if s.pending is not None:
                self._release(s.pending)
            s.pending = None

    def _release(self, job: _Job) -> None:
        self.budget.release(job.size)
        job.size = 0

    def check_command(self, command) -> str | None:
        """A command name from a client: a short string this model has (`NotFound` otherwise)."""
        if command is None:
            return None
        if not isinstance(command, str) or not command or len(command) > MAX_COMMAND:
            raise BadInput(f"a command name must be a string of 1 to {MAX_COMMAND} characters, "
                           f"got {type(command).__name__}", field="command")
        names = self.command_names()
        if names is not None and command not in names:
            shown = command if command.isprintable() and len(command) <= 40 else command[:40].encode("unicode_escape").decode()
            raise NotFound(f"unknown command {shown!r}; {self.id} has {sorted(names)}")
        return command

    def command_names(self) -> set[str] | None:
        """The commands the manifest lists (None while it is unknown)."""
        cmds = (self.manifest or {}).get("commands")
        return {c["name"] for c in cmds} if cmds else None

    def require_running(self) -> None:
        if self.state is HostState.RUNNING:
            return
        if self.state is HostState.STARTING:
            raise BackendUnavailable(f"model {self.id} is still loading; try again shortly", retry_after=1)
        if self.state is HostState.FAILED:
            raise Conflict(f"model {self.id} failed to start: {self.error.message if self.error else '?'}")
        raise Conflict(f"model {self.id} is not running; start it first (POST /v1/models/{self.id}/start)")

    # -- work -----------------------------------------------------------------------------
    async def call(self, command: str | None, inputs: dict, *, formats: dict | None = None,
                   on_partial: Callable | None = None) -> Result:
        """Run one command through the bounded queue; returns its `Result` (raises its error)."""
        self.require_running()
        command = self.check_command(command or self.default_command)
        if len(self.queue) >= self.queue_size:
            self.metrics.rejected(self.id)
            raise BackendUnavailable(f"model {self.id} is busy ({self.queue_size} requests waiting); retry", retry_after=1)
        size = frame_bytes(inputs)
        self.budget.charge(size, self.id)
        job = _Job(command, inputs, future=asyncio.get_running_loop().create_future(),
                   on_partial=on_partial, formats=formats, size=size)
        self.queue.append(job)
        self._wake.set()
        try:
            return await job.future
        except asyncio.CancelledError:
            if job in self.queue:
                self.queue.remove(job)
                self._release(job)
            raise

    def open_stream(self, command: str | None, deliver: Callable[[Result], None], formats: dict | None = None) -> Stream:
        s = Stream(self, command or self.default_command, deliver, formats)
        self.streams.append(s)
        return s

    def close_stream(self, stream: Stream) -> None:
        if stream in self.streams:
            self.streams.remove(stream)
        if stream.pending is not None:
            self._release(stream.pending)
            stream.pending = None

    def subscribe(self, callback: Callable[[Result], None]) -> None:
        self.subscribers.add(callback)

    def unsubscribe(self, callback: Callable[[Result], None]) -> None:
        self.subscribers.discard(callback)

    def _next_job(self) -> tuple[_Job, Stream | None] | None:
        """Round robin over the request queue (one participant) and every stream."""
        parts: list[Stream | None] = [None, *self.streams]
        for k in range(len(parts)):
            i = (self._rr + k) % len(parts)
            p = parts[i]
            if p is None and self.queue:
                self._rr = i + 1
                return self.queue.popleft(), None
            if p is not None and p.pending is not None:
                job, p.pending = p.pending, None
                self._rr = i + 1
                return job, p
        return None

    async def _serve(self) -> None:
        while True:
            picked = self._next_job()
            if picked is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            job, stream = picked
            if job.future is not None and job.future.done():  # caller went away
                self._release(job)
                continue
            self._running = job  # left set if _run raises: the supervisor fails its caller
            await self._run(job, stream)
            self._release(job)
            self._running = None

    async def _run(self, job: _Job, stream: Stream | None) -> None:
        started = time.perf_counter()
        timings: dict = {}
        result = Result(self.id, job.command, frame_id=job.frame_id, stream_id=stream.id if stream else None)

        def partial(outputs, i):
            r = Result(self.id, job.command, outputs=outputs, frame_id=job.frame_id, progress=i, final=False,
                       stream_id=result.stream_id)
            if job.on_partial is not None:
                try:
                    job.on_partial(r)
                except Exception:
                    _limited.exception(f"partial {self.id}", "model %s: a partial result could not be delivered", self.id)
            if stream is not None:
                self._deliver(stream, r)

        try:
            result.outputs = await self.backend.call(
                job.command, job.inputs, binary=True, formats=job.formats or (stream.formats if stream else None),
                timings=timings, on_partial=partial if (job.on_partial or stream) else None)
        except asyncio.CancelledError:  # the model was stopped mid-call: its caller must not wait forever
            if job.future is not None and not job.future.done():
                job.future.set_exception(Conflict(f"model {self.id} was stopped while running {job.command!r}"))
            raise
        except BridgeError as e:
            result.error = e
        except Exception as e:
            _limited.exception(f"backend {self.id}", "backend of %s failed", self.id)
            result.error = BridgeError(f"{type(e).__name__}: {e}")
        if result.outputs is not None:
            try:  # every transport encodes this later; too deep would raise there, inside delivery
                check_depth(result.outputs, MAX_DEPTH, InferenceError)
            except InferenceError as e:
                result.outputs, result.error = None, InferenceError(f"{job.command} returned outputs that cannot "
                                                                    f"be sent: {e.message}")
        done = time.perf_counter()
        self.last_command_at = time.time()
        timings["queue"] = (started - job.received) * 1000
        timings["total"] = (done - job.received) * 1000
        result.timings = {k: round(v, 3) for k, v in timings.items()}
        names = self.command_names()
        label = job.command if names is None or job.command in names else "_other"
        self.metrics.observe(self.id, label, "error" if result.error else "ok", done - started)
        if stream is not None:
            stream.processed += 1
            stream.last_latency_ms = timings["total"]
            result.dropped = stream.dropped
            self.metrics.processed(self.id)
        if result.error is not None:
            self.last_error = result.error
        else:
            self.last_data, self.last_error = result, None
        if job.future is not None and not job.future.done():
            if result.error is not None:
                job.future.set_exception(result.error)
            else:
                job.future.set_result(result)
        if stream is not None:
            self._deliver(stream, result)
        for cb in list(self.subscribers):
            try:
                cb(result)
            except Exception:
                self.subscribers.discard(cb)  # one broken listener must not cost the others their data
                _limited.exception(f"subscriber {self.id}", "a subscriber of %s failed and was dropped", self.id)
        self._sync_backend()

    def _deliver(self, stream: Stream, result: Result) -> None:
        """A stream's own result; if its callback raises, it gets an error instead, or is closed."""
        try:
            stream.deliver(result)
            return
        except Exception as e:
            _limited.exception(f"deliver {self.id}", "model %s: a result could not be delivered to stream %d",
                               self.id, stream.id)
            why = f"{type(e).__name__}: {e}"
        err = Result(self.id, result.command, error=InferenceError(f"the result could not be delivered: {why}"),
                     stream_id=stream.id, dropped=stream.dropped)
        try:
            stream.deliver(err)
        except Exception:
            self.close_stream(stream)

    def _sync_backend(self) -> None:
        """A backend that gave up (a worker that crashed on every call) fails its host, with its reason."""
        gave_up = getattr(self.backend, "gave_up", None)  # the process backend's; others retry forever
        if self.state is HostState.RUNNING and self.backend.state is BackendState.FAILED and gave_up:
            self.state = HostState.FAILED
            self.error = BridgeError(gave_up)
            log.error("model %s is FAILED: %s", self.id, self.error.message)
            self._fail_waiting(self.error)

    # -- status ---------------------------------------------------------------------------
    def status(self) -> dict:
        self._sync_backend()
        state = self.state
        if state is HostState.RUNNING and getattr(self.backend, "restarting", False):
            state = HostState.RESTARTING
        return {
            "state": state.value,
            "error": self.error.message if self.error else None,
            "backend": self.backend.kind,
            "detail": self.backend.detail,  # e.g. "remote ... unreachable: ...; retrying in 2.0 s"
            "gpu": bool(self.backend.gpu),
            "options": self.options,
            "queue": len(self.queue),
            "streams": [
                {"id": s.id, "command": s.command, "received": s.received, "processed": s.processed,
                 "dropped": s.dropped, "latency_ms": round(s.last_latency_ms, 2)}
                for s in self.streams
            ],
        }
