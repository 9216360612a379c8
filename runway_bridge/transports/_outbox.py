"""A per-client outbox that keeps only the newest message: a slow client loses results, it never
delays the model or other clients."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Outbox:
    """`put` never blocks; one sender task writes the newest pending message when the link is free."""

    def __init__(self, send: Callable[[object], Awaitable[None]]):
        self._send = send
        self._pending: object = None
        self._has = asyncio.Event()
        self.skipped = 0
        self._task = asyncio.ensure_future(self._run())

    def put(self, message: object) -> None:
        if self._has.is_set():
            self.skipped += 1
        self._pending = message
        self._has.set()

    async def _run(self) -> None:
        while True:
            await self._has.wait()
            msg, self._pending = self._pending, None
            self._has.clear()
            try:
                await self._send(msg)
            except (ConnectionError, RuntimeError) as e:
                log.debug("outbox send failed: %s", e)
                return

    def close(self) -> None:
        self._task.cancel()
