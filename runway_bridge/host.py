"""One running model: its lifecycle, its request queue and stream slots, and result fan-out.

Work reaches a model two ways. Request/response calls wait in a bounded queue (full: 503 with
Retry-After). Streams hold **one** pending frame each: a newer frame replaces a waiting one and
counts as dropped, so latency stays bounded however fast a client sends. One scheduler task per
model serves the request queue and the streams round robin, one call at a time, so a fast client
cannot starve a slow one and the model never idles while work waits.

Every result also goes to the model's subscribers (the Runway ``data`` listeners on every
transport). Delivery callbacks must not block: each transport keeps its own latest-wins outbox.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .backends.base import Backend
from .errors import BackendUnavailable, BridgeError, Conflict

__all__ = ["Host", "HostState", "Result", "Stream"]

log = logging.getLogger(__name__)


class HostState(enum.Enum):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    FAILED = "FAILED"


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
        self.received += 1
        if self.pending is not None:
            self.dropped += 1
            self.host.metrics.dropped(self.host.id)
        self.pending = _Job(command or self.command, inputs, frame_id)
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
                 queue_size: int = 16, metrics=None):
        self.id = model_id
        self.backend = backend
        self.default_command = default_command
        self.state = HostState.STOPPED
        self.error: BridgeError | None = None
        self.options: dict = {}
        self.manifest: dict | None = None
        self.metrics = metrics or _NullMetrics()
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
        while self.queue:
            job = self.queue.popleft()
            if job.future is not None and not job.future.done():
                job.future.set_exception(err)
        for s in self.streams:
            s.pending = None

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
        if len(self.queue) >= self.queue_size:
            self.metrics.rejected(self.id)
            raise BackendUnavailable(f"model {self.id} is busy ({self.queue_size} requests waiting); retry", retry_after=1)
        job = _Job(command or self.default_command, inputs, future=asyncio.get_running_loop().create_future(),
                   on_partial=on_partial, formats=formats)
        self.queue.append(job)
        self._wake.set()
        try:
            return await job.future
        except asyncio.CancelledError:
            if job in self.queue:
                self.queue.remove(job)
            raise

    def open_stream(self, command: str | None, deliver: Callable[[Result], None], formats: dict | None = None) -> Stream:
        s = Stream(self, command or self.default_command, deliver, formats)
        self.streams.append(s)
        return s

    def close_stream(self, stream: Stream) -> None:
        if stream in self.streams:
            self.streams.remove(stream)

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
                continue
            await self._run(job, stream)

    async def _run(self, job: _Job, stream: Stream | None) -> None:
        started = time.perf_counter()
        timings: dict = {}
        result = Result(self.id, job.command, frame_id=job.frame_id, stream_id=stream.id if stream else None)

        def partial(outputs, i):
            r = Result(self.id, job.command, outputs=outputs, frame_id=job.frame_id, progress=i, final=False,
                       stream_id=result.stream_id)
            if job.on_partial is not None:
                job.on_partial(r)
            if stream is not None:
                stream.deliver(r)

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
            log.exception("backend of %s failed", self.id)
            result.error = BridgeError(f"{type(e).__name__}: {e}")
        done = time.perf_counter()
        self.last_command_at = time.time()
        timings["queue"] = (started - job.received) * 1000
        timings["total"] = (done - job.received) * 1000
        result.timings = {k: round(v, 3) for k, v in timings.items()}
        self.metrics.observe(self.id, job.command, "error" if result.error else "ok", done - started)
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
            stream.deliver(result)
        for cb in list(self.subscribers):
            try:
                cb(result)
            except Exception:
                log.exception("a subscriber of %s failed", self.id)

    # -- status ---------------------------------------------------------------------------
    def status(self) -> dict:
        return {
            "state": self.state.value,
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
