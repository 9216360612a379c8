"""The scheduling of one model's work: a bounded request queue, streams, and whose turn it is.

Request/response calls wait in a bounded queue (full: 503 with Retry-After). A stream holds
**one** pending frame: a newer frame replaces a waiting one and counts as dropped, before
anything has decoded it, so latency stays bounded however fast a client sends. Work is taken
round robin over the queue (one participant) and every stream, so a fast client cannot starve
a slow one. A batch takes the next frames of the same command in the same round-robin order.

Several frames of one stream may be in flight at once (on replicas, or pipelined); their
results are delivered in the order the frames were taken, so a client never sees an older frame
after a newer one.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import BadInput, BridgeError
from .inflight import frame_bytes

__all__ = ["Job", "Result", "Stream", "Scheduler", "check_frame_id", "MAX_FRAME_ID"]

MAX_FRAME_ID = 128  # characters of a string frame id


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
    checked: bool = field(default=False, repr=False)  # outputs known to nest within jsonsafe.MAX_DEPTH


@dataclass(eq=False)
class Job:
    """One piece of work: a request (with a `future`) or a stream's frame (with its `stream`)."""

    command: str
    inputs: dict
    frame_id: object = None
    received: float = field(default_factory=time.perf_counter)
    future: asyncio.Future | None = None
    on_partial: Callable | None = None
    formats: dict | None = None
    size: int = 0  # bytes charged to the in-flight budget
    stream: Stream | None = None
    result: object = None  # its Result once done, while an earlier frame of its stream still runs


class Stream:
    """One client's stream into one command: a single pending slot, latest frame wins."""

    _ids = itertools.count(1)

    def __init__(self, host, command: str, deliver: Callable, formats: dict | None):
        self.id = next(self._ids)
        self.host, self.command, self.deliver, self.formats = host, command, deliver, formats
        self.pending: Job | None = None
        self.inflight: collections.deque[Job] = collections.deque()  # taken, in the order taken
        self.received = self.processed = self.dropped = 0
        self.last_latency_ms = 0.0

    def submit(self, inputs: dict, frame_id=None, command: str | None = None) -> None:
        """Offer a frame; it replaces a frame still waiting (which counts as dropped)."""
        host = self.host
        host.require_running()
        check_frame_id(frame_id)
        command = host.check_command(command or self.command)
        size = frame_bytes(inputs)
        old = self.pending.size if self.pending is not None else 0
        host.budget.charge(size, host.id, release=old)
        self.received += 1
        if self.pending is not None:
            self.dropped += 1
            host.metrics.dropped(host.id)
        self.pending = Job(command, inputs, frame_id, size=size, formats=self.formats, stream=self)
        host.metrics.received(host.id)
        host.wake()

    def ready(self) -> list[Job]:
        """The finished jobs at the head of the stream, in order: those that may be delivered now."""
        out = []
        while self.inflight and self.inflight[0].result is not None:
            out.append(self.inflight.popleft())
        return out

    def close(self) -> None:
        self.host.close_stream(self)


class Scheduler:
    """The request queue and the streams of one model, and the round robin over them."""

    def __init__(self, queue_size: int, release: Callable[[Job], None]):
        self.queue: collections.deque[Job] = collections.deque()
        self.queue_size = queue_size
        self.streams: list[Stream] = []
        self._release = release  # gives back the budget of a job nobody waits for any more
        self._rr = 0

    def _take_from(self, p: Stream | None, command: str | None, share: int) -> Job | None:
        if p is not None:
            job = p.pending
            if job is None or (command is not None and job.command != command) or len(p.inflight) >= share:
                return None
            p.pending = None
            p.inflight.append(job)
            return job
        while self.queue:
            job = self.queue[0]
            if job.future is not None and job.future.done():  # its caller went away
                self._release(self.queue.popleft())
                continue
            return self.queue.popleft() if command is None or job.command == command else None
        return None

    def take(self, command: str | None = None, limit: int = 1, capacity: int = 1) -> list[Job]:
        """Up to `limit` jobs round robin (one per participant per round): of `command` when given,
        else of whatever command the first one has.

        A stream has at most its share of the `capacity` (the calls the model takes at once) in
        flight: alone it may fill every replica and pipeline, but beside others a flooding stream
        must not take the slot a lockstep client is about to need (its next frame is on the wire).
        """
        share = max(1, capacity // max(1, len(self.streams)))
        jobs: list[Job] = []
        progress = True
        while len(jobs) < limit and progress:
            progress = False
            parts: list[Stream | None] = [None, *self.streams]
            base = self._rr
            for k in range(len(parts)):
                i = (base + k) % len(parts)
                job = self._take_from(parts[i], command or (jobs[0].command if jobs else None), share)
                if job is not None:
                    jobs.append(job)
                    progress = True
                    self._rr = i + 1
                    if len(jobs) >= limit:
                        break
        return jobs

    def could_send(self, command: str, taken: list[Job]) -> bool:
        """Whether a stream on `command` that has nothing in this batch might still send a frame."""
        inside = {id(j.stream) for j in taken if j.stream is not None}
        return any(s.command == command and id(s) not in inside for s in self.streams)
