"""Dispatch: taking a model's work to its replicas, one task per call, batches gathered.

The scheduler task (`serve`) takes the next work whenever a replica has room and runs each call
as its own task, so the model never idles while work waits, and one slow call never holds up a
free replica. A command that takes a batch gets the waiting frames of several streams in one
call (`fill`). Results go back to the `Host` (`_finish`), which answers callers and streams.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ._ratelimit_log import RateLimitedLog
from .backends.base import Backend
from .errors import BridgeError, Conflict, InferenceError, SetupError
from .jsonsafe import MAX_DEPTH, check_depth
from .scheduling import Job, Result

__all__ = ["Dispatcher", "BATCH_WAIT_MS"]

log = logging.getLogger("runway_bridge.host")
_limited = RateLimitedLog(log)
BATCH_WAIT_MS = 5.0  # the longest a batch waits to fill, unless the card's [batch] wait_ms says


class Dispatcher:
    """One model's calls in flight, and the loop that starts them."""

    def __init__(self, host):
        self.host = host
        self.replicas, self.sched = host.replicas, host.sched
        self._wake = asyncio.Event()
        self._calls: dict[asyncio.Task, list[Job]] = {}  # calls in flight, failed if the model dies
        self._batch: dict[str, int] = {}  # the largest batch of each batching command
        self._last_batch: dict[str, int] = {}  # the size of each one's last batch
        self._wait = BATCH_WAIT_MS / 1000  # the longest a batch waits to fill, in seconds
        self._gathering: list[Job] = []  # the batch being filled

    def wake(self) -> None:
        self._wake.set()

    def configure(self) -> None:
        """Learn each batching command's largest batch (from the manifest, once loaded): the
        command's own, capped by the card's ``[batch] max_size`` (1 turns batching off); none
        where a replica cannot run batches. The card's ``wait_ms`` is read here too, once."""
        self._batch = {}
        card = self.host.backend.card.get("batch") or {}
        cap, wait = card.get("max_size"), card.get("wait_ms", BATCH_WAIT_MS)
        if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
            raise SetupError(f"[batch] max_size must be a whole number of at least 1, not {cap!r}")
        if not isinstance(wait, (int, float)) or isinstance(wait, bool) or not 0 <= wait <= 10000:
            raise SetupError(f"[batch] wait_ms must be a number of milliseconds from 0 to 10000, not {wait!r}")
        self._wait = wait / 1000
        if not all(b.batching for b in self.replicas.backends):
            return
        for c in (self.host.manifest or {}).get("commands", []):
            n = min(c.get("batch") or 1, cap or 1024)
            if n > 1:
                self._batch[c["name"]] = n

    def _call_done(self, task: asyncio.Task) -> None:
        """A call's task ended; one that raised (a bug of ours, not of the model) fails the model."""
        jobs = self._calls.pop(task, [])
        if not task.cancelled() and task.exception() is not None and self.host.state.value == "RUNNING":
            exc = task.exception()
            self.host._die(f"{type(exc).__name__}: {exc}", exc, jobs)

    def cancel(self, err: BridgeError, more: list[Job] = ()) -> None:
        """Cancel the calls in flight; their callers (and those of `more`) get `err`."""
        calls = [*self._calls.items(), (None, more), (None, self._gathering)]
        for task, jobs in calls:
            if task is not None:
                task.cancel()
            for job in jobs:
                self.host._release(job)
                if job.future is not None and not job.future.done():
                    job.future.set_exception(err)
        self._calls.clear()
        self._gathering = []

    async def _idle(self, timeout: float | None = None) -> None:
        self._wake.clear()
        if timeout is None:
            await self._wake.wait()
            return
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def serve(self) -> None:
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
                self._gathering = jobs  # taken, not yet sent: stop() must answer them too
                await self._fill(jobs, limit)
                self._gathering = []
            task = asyncio.ensure_future(self._run(slot, jobs))
            self._calls[task] = jobs
            task.add_done_callback(self._call_done)

    async def _fill(self, jobs: list[Job], limit: int) -> None:
        """Add to `jobs` (in place: `cancel` sees them) more frames of the same command, waiting at
        most the card's wait_ms while a stream on it has none in the batch yet, or while it is
        smaller than the last batch (clients in lockstep come back together); never when
        nothing more could come."""
        command = jobs[0].command
        expect = self._last_batch.get(command, 1)
        cap = self.replicas.capacity
        jobs += self.sched.take(command, limit - len(jobs), cap)
        deadline = time.perf_counter() + self._wait
        while len(jobs) < limit and (len(jobs) < expect or self.sched.could_send(command, jobs)):
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            await self._idle(left)
            jobs += self.sched.take(command, limit - len(jobs), cap)
        self._last_batch[command] = len(jobs)

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
        self.host.last_command_at = time.time()
        names = self.host.command_names()
        label = jobs[0].command if names is None or jobs[0].command in names else "_other"
        if len(jobs) > 1 or jobs[0].command in self._batch:
            timings["batch"] = len(jobs)
            self.host.metrics.batch(self.host.id, len(jobs))
        for job, out in zip(jobs, outs, strict=True):
            self.host._release(job)
            result = Result(self.host.id, job.command, frame_id=job.frame_id,
                            stream_id=job.stream.id if job.stream else None)
            if isinstance(out, BaseException):
                result.error = out
            else:
                result.outputs = self._sendable(job.command, out, result)
            t = dict(timings, queue=(started - job.received) * 1000, total=(done - job.received) * 1000)
            result.timings = {k: round(v, 3) for k, v in t.items()}
            self.host.metrics.observe(self.host.id, label, "error" if result.error else "ok", done - started)
            self.host._finish(job, result)
        self.host._sync_backend()

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
                    j.future.set_exception(Conflict(f"model {self.host.id} was stopped while running {j.command!r}"))
            raise
        except BridgeError as e:
            return [e] * len(jobs)
        except Exception as e:
            _limited.exception(f"backend {self.host.id}", "backend of %s failed", self.host.id)
            return [BridgeError(f"{type(e).__name__}: {e}")] * len(jobs)

    def _partial(self, job: Job):
        def partial(outputs, i):
            r = Result(self.host.id, job.command, frame_id=job.frame_id, progress=i, final=False,
                       stream_id=job.stream.id if job.stream else None)
            r.outputs = self._sendable(job.command, outputs, r)
            if r.outputs is None:
                return  # a step too deep to send: its final result will say so, or the next step counts
            if job.on_partial is not None:
                try:
                    job.on_partial(r)
                except Exception:
                    _limited.exception(f"partial {self.host.id}", "model %s: a partial result could not be delivered", self.host.id)
            s = job.stream
            if s is not None and s.inflight and s.inflight[0] is job:  # never ahead of an earlier frame
                self.host._deliver(s, r)
        return partial

    def _sendable(self, command: str, outputs, result):
        """Outputs every transport can encode (checked here: too deep would raise inside delivery)."""
        try:
            check_depth(outputs, MAX_DEPTH, InferenceError)
        except InferenceError as e:
            result.error = InferenceError(f"{command} returned outputs that cannot be sent: {e.message}")
            return None
        result.checked = True  # the transports need not walk it again
        return outputs

