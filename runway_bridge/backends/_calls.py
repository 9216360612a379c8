"""The calls a process worker holds: up to `depth` sent to it, answered in the order sent.

The worker runs its calls one by one, so the first one here is the one running and only it is
timed: a call's ``timeout_s`` starts when it reaches the front (when the worker starts it, give or
take one answer's trip back), not while it waits behind another. Answers are matched by id, so a
call cancelled before it ran (the worker drops it and answers at once) leaves in any order.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import Callable

from .base import Pending

__all__ = ["PendingCall", "Inflight"]


class PendingCall(Pending):
    def __init__(self, call_id: int, future: asyncio.Future, on_partial):
        super().__init__(future, on_partial)
        self.id = call_id
        self.timer: asyncio.TimerHandle | None = None

    def finish(self, result=None, error: BaseException | None = None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        super().finish(result, error)


class Inflight:
    """A FIFO of `PendingCall`s; `on_timeout(call)` when the running one outlives `timeout_s`,
    `on_front()` when a call starts running (the backend forgets the previous call's output)."""

    def __init__(self, depth: int, timeout_s: float, on_timeout: Callable[[PendingCall], None],
                 on_front: Callable[[], None] | None = None):
        self.depth, self.timeout_s, self._on_timeout, self._on_front = depth, timeout_s, on_timeout, on_front
        self._calls: collections.deque[PendingCall] = collections.deque()
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._calls)

    @property
    def running(self) -> PendingCall | None:
        return self._calls[0] if self._calls else None

    async def wait_room(self) -> None:
        """Until fewer than `depth` calls are held (the front one's timer bounds the wait)."""
        while len(self._calls) >= self.depth:
            await asyncio.wait({self._calls[0].future})

    def add(self, on_partial=None) -> PendingCall:
        call = PendingCall(next(self._ids), asyncio.get_running_loop().create_future(), on_partial)
        self._calls.append(call)
        if len(self._calls) == 1:
            self._started(call)
        return call

    def get(self, call_id: int) -> PendingCall | None:
        return next((c for c in self._calls if c.id == call_id), None)

    def pop(self, call_id: int) -> PendingCall | None:
        """The call answered `call_id`, removed; the next one, if it moved to the front, is timed."""
        call = self.get(call_id)
        if call is None:
            return None
        front = call is self._calls[0]
        self._calls.remove(call)
        if front and self._calls:
            self._started(self._calls[0])
        return call

    def fail_all(self, running: BaseException, queued: Callable[[], BaseException]) -> None:
        """The worker is gone: the running call fails with `running`, each one behind it with its
        own `queued()` (they never ran)."""
        calls, self._calls = self._calls, collections.deque()
        for i, call in enumerate(calls):
            call.finish(error=running if i == 0 else queued())

    def _started(self, call: PendingCall) -> None:
        call.timer = asyncio.get_running_loop().call_later(self.timeout_s, self._on_timeout, call)
        if self._on_front is not None:
            self._on_front()
