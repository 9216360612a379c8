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

    def acquire(self) -> int | None:
        """The index of the backend to take the next call (idle first, then least busy), marked busy;
        None when every one is full."""
        best = None
        for i, b in enumerate(self.backends):
            if self.busy[i] < max(1, b.concurrency) and (best is None or self.busy[i] < self.busy[best]):
                best = i
        if best is not None:
            self.busy[best] += 1
        return best

    def release(self, i: int) -> None:
        self.busy[i] = max(0, self.busy[i] - 1)

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

    async def stop(self) -> None:
        results = await asyncio.gather(*(b.stop() for b in self.backends if b.state is not BackendState.STOPPED),
                                       return_exceptions=True)
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            raise failed
