"""Replica dispatch: N instances of one model, and which of them takes the next call.

``replicas = N`` in a card (or ``serve --replicas ID=N``) gives a model N backends of its kind:
N model threads on the local backend (for models whose inference releases the GIL: ONNX
Runtime, OpenCV, MediaPipe), N worker processes on the process backend (for the others). Each
backend says how many calls it takes at once (`Backend.concurrency`: 2 for a pipelined local
one). A call goes to an idle replica first, then to the least busy with room, so two frames
use two replicas before either pipelines. A backend that scales itself (Ray Serve) is one
replica with a large concurrency.
"""

from __future__ import annotations

import asyncio
import collections
import math

from .backends.base import Backend, BackendState

__all__ = ["Replicas", "MAX_REPLICAS", "REPLICATED"]

MAX_REPLICAS = 64
REPLICATED = ("local", "process")  # the kinds the host replicates; Ray Serve scales itself


class Replicas:
    """The backends of one model and their calls in flight."""

    def __init__(self, backends: list[Backend]):
        if not backends:
            raise ValueError("a model needs at least one backend")
        self.backends = list(backends)
        self.busy = [0] * len(self.backends)
        self._sent: list[collections.deque[float]] = [collections.deque() for _ in self.backends]
        self._model_s = [0.0] * len(self.backends)  # a moving average of each one's inference time

    def __len__(self) -> int:
        return len(self.backends)

    @property
    def first(self) -> Backend:
        return self.backends[0]

    @property
    def capacity(self) -> int:
        return sum(max(1, b.concurrency) for b in self.backends)

    def inflight(self) -> int:
        return sum(self.busy)

    def _opens_at(self, i: int) -> float:
        """When replica `i` may take another call. A pipelined one takes its next call just in time:
        about one inference after the running call was sent, so the next frame finishes decoding
        as the model frees up. Sent earlier, it would only wait, committed, while a newer frame
        of its stream could have replaced it."""
        b = self.backends[i]
        if self.busy[i] >= max(1, b.concurrency):
            return math.inf
        if self.busy[i] == 0 or not b.pipelined:
            return 0.0
        return self._sent[i][-1] + self._model_s[i]

    def acquire(self, now: float) -> tuple[int | None, float | None]:
        """``(index, None)``: the backend to take the next call (idle first, then least busy),
        marked busy. ``(None, seconds)``: none now, one opens in that long (None: when a call ends)."""
        best, soonest = None, math.inf
        for i in range(len(self.backends)):
            at = self._opens_at(i)
            if at <= now:
                if best is None or self.busy[i] < self.busy[best]:
                    best = i
            soonest = min(soonest, at)
        if best is None:
            return None, (soonest - now if soonest < math.inf else None)
        self.busy[best] += 1
        self._sent[best].append(now)
        return best, None

    def unacquire(self, i: int) -> None:
        """Undo an `acquire` that found no work."""
        self.busy[i] -= 1
        self._sent[i].pop()

    def release(self, i: int, timings: dict | None = None) -> None:
        self.busy[i] = max(0, self.busy[i] - 1)
        if self._sent[i]:
            self._sent[i].popleft()
        ms = (timings or {}).get("model")
        if ms is not None:
            self._model_s[i] = ms / 1000 if not self._model_s[i] else 0.8 * self._model_s[i] + 0.2 * ms / 1000

    async def start(self, options: dict) -> None:
        """Start every replica; if one fails, the others are stopped and its error raised."""
        for b in self.backends:
            if b.state.value in ("RUNNING", "FAILED"):
                await b.stop()
        results = await asyncio.gather(*(b.start(options) for b in self.backends), return_exceptions=True)
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            await self.stop()
            raise failed
        self.busy = [0] * len(self.backends)
        self._sent = [collections.deque() for _ in self.backends]

    async def stop(self) -> None:
        results = await asyncio.gather(*(b.stop() for b in self.backends if b.state is not BackendState.STOPPED),
                                       return_exceptions=True)
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            raise failed
