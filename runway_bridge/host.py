"""One running model: its lifecycle, its dispatch to replicas, and result fan-out.

Work arrives through the `scheduling.Scheduler` (a bounded request queue and latest-frame-wins
streams, round robin). One scheduler task per model (`dispatch.Dispatcher`) takes the next work
whenever a replica has room (`replicas.Replicas`; a pipelined local backend takes two calls, one
decoding while the other infers), runs each call as its own task and gathers batches; results
come back here, to be answered in order.

Every result also goes to the model's subscribers (the Runway ``data`` listeners on every
transport). Delivery callbacks must not block: each transport keeps its own latest-wins outbox.

Nothing a client sends may kill the scheduler, because a dead scheduler is a model that says
RUNNING and never answers. So frame ids and command names are checked where they enter, outputs
are checked for JSON depth before any transport encodes them, a callback that raises is dropped
(not the model), and the scheduler task and its calls are supervised: if one dies anyway, the
model goes FAILED with the reason and every waiting caller gets an error. Frames are charged to
the daemon-wide in-flight byte `Budget` while they are held.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable

from ._ratelimit_log import RateLimitedLog
from .backends.base import Backend, BackendState
from .dispatch import Dispatcher
from .errors import BackendUnavailable, BadInput, BridgeError, Conflict, InferenceError, NotFound
from .inflight import Budget, frame_bytes
from .replicas import Replicas
from .scheduling import MAX_FRAME_ID, Job, Result, Scheduler, Stream, check_frame_id

__all__ = ["Host", "HostState", "Result", "Stream", "check_frame_id", "MAX_FRAME_ID"]

log = logging.getLogger(__name__)
_limited = RateLimitedLog(log)
MAX_COMMAND = 128


class HostState(enum.Enum):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    FAILED = "FAILED"
    RESTARTING = "RESTARTING"  # reported only: the host serves, its backend's worker is coming back


class _NullMetrics:
    def __getattr__(self, name):
        return lambda *a, **k: None


class Host:
    """A model and where it runs: start, stop, call, stream, subscribe."""

    def __init__(self, model_id: str, backend: Backend | list[Backend], *, default_command: str | None = None,
                 queue_size: int = 16, metrics=None, budget: Budget | None = None):
        self.id = model_id
        self.replicas = Replicas(backend if isinstance(backend, list) else [backend])
        self.backend = self.replicas.first  # its kind, card and health stand for all replicas
        self.default_command = default_command
        self.state = HostState.STOPPED
        self.error: BridgeError | None = None
        self.options: dict = {}
        self.manifest: dict | None = None
        self.metrics = metrics or _NullMetrics()
        self.budget = budget or Budget()
        self.sched = Scheduler(queue_size, self._release)
        self.subscribers: set[Callable[[Result], None]] = set()
        self.last_data: Result | None = None
        self.last_error: BridgeError | None = None
        self.started_at = time.time()
        self.last_command_at: float | None = None
        self._task: asyncio.Task | None = None
        self._starting: asyncio.Task | None = None
        self.dispatch = Dispatcher(self)

    @property
    def queue(self):
        return self.sched.queue

    @property
    def queue_size(self) -> int:
        return self.sched.queue_size

    @property
    def streams(self) -> list[Stream]:
        return self.sched.streams

    def wake(self) -> None:
        self.dispatch.wake()

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
            await self.replicas.start(self.options)
            try:
                self.manifest = await self.backend.manifest()
            except NotImplementedError:
                self.manifest = None
            if self.default_command is None and self.manifest:
                self.default_command = self.manifest["commands"][0]["name"]
            self.dispatch.configure()
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
            self._task = asyncio.ensure_future(self.dispatch.serve())
            self._task.add_done_callback(self._supervise)

    def _supervise(self, task: asyncio.Task) -> None:
        """The scheduler ended: cancelled (stop) is fine; anything else fails the model, loudly."""
        if task.cancelled() or task is not self._task:
            return
        exc = task.exception()
        self._die(f"{type(exc).__name__}: {exc}" if exc else "it returned", exc)

    def _die(self, why: str, exc: BaseException | None, jobs: list[Job] = ()) -> None:
        log.error("model %s: its scheduler died (%s); the model is FAILED, start it again", self.id, why,
                  exc_info=exc)
        self.state = HostState.FAILED
        self.error = BridgeError(f"model {self.id} stopped serving: its scheduler died ({why}); start it again")
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        self.dispatch.cancel(self.error, jobs)
        self._fail_waiting(self.error)

    async def stop(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        if self._task is not None:
            self._task.cancel()
            self._task = None
        err = Conflict(f"model {self.id} was stopped")
        self.dispatch.cancel(err)
        self._fail_waiting(err)
        try:
            await self.replicas.stop()
        finally:
            self.state = HostState.STOPPED

    def _fail_waiting(self, err: BridgeError) -> None:
        while self.queue:
            job = self.queue.popleft()
            self._release(job)
            if job.future is not None and not job.future.done():
                job.future.set_exception(err)
        for s in self.streams:
            if s.pending is not None:
                self._release(s.pending)
            s.pending = None
            s.inflight.clear()

    def _release(self, job: Job) -> None:
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
        job = Job(command, inputs, future=asyncio.get_running_loop().create_future(),
                  on_partial=on_partial, formats=formats, size=size)
        self.queue.append(job)
        self.wake()
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

    def _finish(self, job: Job, result: Result) -> None:
        """Answer the caller now; a stream's result waits for its earlier frames, then goes out."""
        if job.future is not None and not job.future.done():
            if result.error is not None:
                job.future.set_exception(result.error)
            else:
                job.future.set_result(result)
        s = job.stream
        if s is None:
            self._publish(result)
            return
        job.result = result
        for ready in s.ready():
            r = ready.result
            s.processed += 1
            s.last_latency_ms = r.timings.get("total", 0.0)
            r.dropped = s.dropped
            self.metrics.processed(self.id)
            self._deliver(s, r)
            self._publish(r)

    def _publish(self, result: Result) -> None:
        if result.error is not None:
            self.last_error = result.error
        else:
            self.last_data, self.last_error = result, None
        for cb in list(self.subscribers):
            try:
                cb(result)
            except Exception:
                self.subscribers.discard(cb)  # one broken listener must not cost the others their data
                _limited.exception(f"subscriber {self.id}", "a subscriber of %s failed and was dropped", self.id)

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
        for b in self.replicas.backends:
            gave_up = getattr(b, "gave_up", None)  # the process backend's; others retry forever
            if self.state is HostState.RUNNING and b.state is BackendState.FAILED and gave_up:
                self.state = HostState.FAILED
                self.error = BridgeError(gave_up)
                log.error("model %s is FAILED: %s", self.id, self.error.message)
                self.dispatch.cancel(self.error)
                self._fail_waiting(self.error)

    # -- status ---------------------------------------------------------------------------
    def status(self) -> dict:
        self._sync_backend()
        state = self.state
        if state is HostState.RUNNING and any(getattr(b, "restarting", False) for b in self.replicas.backends):
            state = HostState.RESTARTING
        details = [b.detail for b in self.replicas.backends if b.detail]
        return {
            "state": state.value,
            "error": self.error.message if self.error else None,
            "backend": self.backend.kind,
            "detail": "; ".join(dict.fromkeys(details)) or None,  # e.g. "remote ... unreachable: ...; retrying in 2.0 s"
            "gpu": bool(self.backend.gpu),
            "replicas": len(self.replicas),
            "inflight": self.replicas.inflight(),
            "options": self.options,
            "queue": len(self.queue),
            "streams": [
                {"id": s.id, "command": s.command, "received": s.received, "processed": s.processed,
                 "dropped": s.dropped, "latency_ms": round(s.last_latency_ms, 2)}
                for s in self.streams
            ],
        }
