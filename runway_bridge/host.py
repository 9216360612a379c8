"""One running model: its lifecycle, its dispatch to replicas, and result fan-out.

Work arrives through the `scheduling.Scheduler` (a bounded request queue and latest-frame-wins
streams, round robin). One scheduler task per model takes the next work whenever a replica has
room (`replicas.Replicas`; a pipelined local backend takes two calls, one decoding while the
other infers) and runs each call as its own task, so the model never idles while work waits.
A command that takes a batch gets the pending frames of several streams in one call; the host
waits at most the card's ``[batch] wait_ms`` for the batch to fill.

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
from dataclasses import dataclass, field

from ._ratelimit_log import RateLimitedLog
from .backends.base import Backend, BackendState
from .errors import BackendUnavailable, BadInput, BridgeError, Conflict, InferenceError, NotFound
from .inflight import Budget, frame_bytes
from .jsonsafe import MAX_DEPTH, check_depth
from .replicas import Replicas
from .scheduling import MAX_FRAME_ID, Job, Scheduler, Stream, check_frame_id

__all__ = ["Host", "HostState", "Result", "Stream", "check_frame_id", "MAX_FRAME_ID"]

log = logging.getLogger(__name__)
_limited = RateLimitedLog(log)
MAX_COMMAND = 128
BATCH_WAIT_MS = 5.0  # the longest a batch waits to fill, unless the card's [batch] wait_ms says


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
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._starting: asyncio.Task | None = None
        self._calls: dict[asyncio.Task, list[Job]] = {}  # calls in flight, failed by the supervisor if it dies
        self._batch: dict[str, int] = {}  # the largest batch of each batching command

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
        self._wake.set()

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
            self._batch = self._batch_sizes()
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

    def _batch_sizes(self) -> dict[str, int]:
        """Each batching command's largest batch: the command's own, capped by the card's
        ``[batch] max_size`` (1 turns batching off); none where no replica runs batches."""
        if not all(b.batching for b in self.replicas.backends):
            return {}
        cap = (self.backend.card.get("batch") or {}).get("max_size")
        sizes = {}
        for c in (self.manifest or {}).get("commands", []):
            n = c.get("batch") or 1
            n = min(n, int(cap)) if cap else n
            if n > 1:
                sizes[c["name"]] = n
        return sizes

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
        self._cancel_calls(self.error, jobs)
        self._fail_waiting(self.error)

    def _call_done(self, task: asyncio.Task) -> None:
        """A call's task ended; one that raised (a bug of ours, not of the model) fails the model."""
        jobs = self._calls.pop(task, [])
        if not task.cancelled() and task.exception() is not None and self.state is HostState.RUNNING:
            exc = task.exception()
            self._die(f"{type(exc).__name__}: {exc}", exc, jobs)

    def _cancel_calls(self, err: BridgeError, more: list[Job] = ()) -> None:
        """Cancel the calls in flight; their callers (and those of `more`) get `err`."""
        calls = [*self._calls.items(), (None, more)]
        for task, jobs in calls:
            if task is not None:
                task.cancel()
            for job in jobs:
                self._release(job)
                if job.future is not None and not job.future.done():
                    job.future.set_exception(err)
        self._calls.clear()

    async def stop(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
        if self._task is not None:
            self._task.cancel()
            self._task = None
        err = Conflict(f"model {self.id} was stopped")
        self._cancel_calls(err)
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

    async def _idle(self, timeout: float | None = None) -> None:
        self._wake.clear()
        if timeout is None:
            await self._wake.wait()
            return
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def _serve(self) -> None:
        """Take work whenever a replica has room; each call runs as its own task."""
        while True:
            slot, opens_in = self.replicas.acquire(time.perf_counter())
            if slot is None:
                await self._idle(opens_in)
                continue
            jobs = self.sched.take(capacity=self.replicas.capacity)
            if not jobs:
                self.replicas.unacquire(slot)
                await self._idle()
                continue
            limit = self._batch.get(jobs[0].command, 1)
            if limit > 1:
                jobs += await self._fill(jobs, limit)
            task = asyncio.ensure_future(self._run(slot, jobs))
            self._calls[task] = jobs
            task.add_done_callback(self._call_done)

    async def _fill(self, jobs: list[Job], limit: int) -> list[Job]:
        """More frames of the same command for a batch, waiting at most the card's wait_ms for
        streams that have none in it yet (never when every stream on it is already in)."""
        command = jobs[0].command
        cap = self.replicas.capacity
        more = self.sched.take(command, limit - len(jobs), cap)
        wait = float((self.backend.card.get("batch") or {}).get("wait_ms", BATCH_WAIT_MS)) / 1000
        deadline = time.perf_counter() + wait
        while len(jobs) + len(more) < limit and self.sched.could_send(command, jobs + more):
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            await self._idle(left)
            more += self.sched.take(command, limit - len(jobs) - len(more), cap)
        return more

    async def _run(self, slot: int, jobs: list[Job]) -> None:
        backend = self.replicas.backends[slot]
        started = time.perf_counter()
        timings: dict = {}
        try:
            outs = await self._invoke(backend, jobs, timings)
        finally:
            self.replicas.release(slot, timings)
            self._wake.set()
        done = time.perf_counter()
        self.last_command_at = time.time()
        names = self.command_names()
        label = jobs[0].command if names is None or jobs[0].command in names else "_other"
        if len(jobs) > 1 or jobs[0].command in self._batch:
            timings["batch"] = len(jobs)
            self.metrics.batch(self.id, len(jobs))
        for job, out in zip(jobs, outs, strict=True):
            self._release(job)
            result = Result(self.id, job.command, frame_id=job.frame_id,
                            stream_id=job.stream.id if job.stream else None)
            if isinstance(out, BaseException):
                result.error = out
            else:
                result.outputs = self._sendable(job.command, out, result)
            t = dict(timings, queue=(started - job.received) * 1000, total=(done - job.received) * 1000)
            result.timings = {k: round(v, 3) for k, v in t.items()}
            self.metrics.observe(self.id, label, "error" if result.error else "ok", done - started)
            self._finish(job, result)
        self._sync_backend()

    async def _invoke(self, backend: Backend, jobs: list[Job], timings: dict) -> list:
        """The backend's answer for each job, in order: its outputs or its error."""
        job = jobs[0]
        formats = job.formats or (job.stream.formats if job.stream else None)
        try:
            if job.command in self._batch:
                outs = await backend.call_batch(job.command, [j.inputs for j in jobs], binary=True,
                                                formats=formats, timings=timings)
                if len(outs) != len(jobs):
                    raise InferenceError(f"the backend answered {len(outs)} of a batch of {len(jobs)}")
                return outs
            return [await backend.call(job.command, job.inputs, binary=True, formats=formats, timings=timings,
                                       on_partial=self._partial(job) if (job.on_partial or job.stream) else None)]
        except asyncio.CancelledError:  # the model was stopped mid-call: its callers must not wait forever
            for j in jobs:
                if j.future is not None and not j.future.done():
                    j.future.set_exception(Conflict(f"model {self.id} was stopped while running {j.command!r}"))
            raise
        except BridgeError as e:
            return [e] * len(jobs)
        except Exception as e:
            _limited.exception(f"backend {self.id}", "backend of %s failed", self.id)
            return [BridgeError(f"{type(e).__name__}: {e}")] * len(jobs)

    def _partial(self, job: Job):
        def partial(outputs, i):
            r = Result(self.id, job.command, outputs=outputs, frame_id=job.frame_id, progress=i, final=False,
                       stream_id=job.stream.id if job.stream else None)
            if job.on_partial is not None:
                try:
                    job.on_partial(r)
                except Exception:
                    _limited.exception(f"partial {self.id}", "model %s: a partial result could not be delivered", self.id)
            s = job.stream
            if s is not None and s.inflight and s.inflight[0] is job:  # never ahead of an earlier frame
                self._deliver(s, r)
        return partial

    def _sendable(self, command: str, outputs, result: Result):
        """Outputs every transport can encode (checked here: too deep would raise inside delivery)."""
        try:
            check_depth(outputs, MAX_DEPTH, InferenceError)
        except InferenceError as e:
            result.error = InferenceError(f"{command} returned outputs that cannot be sent: {e.message}")
            return None
        return outputs

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
                self._cancel_calls(self.error)
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
