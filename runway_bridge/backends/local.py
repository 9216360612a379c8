"""Run a model in the daemon's own process, on one dedicated thread per model.

One thread per model keeps the event loop free and calls into the model serial (most models are
not thread-safe); OpenCV and ONNX Runtime release the GIL, so models still run in parallel.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from ..errors import Conflict
from ..model import Model, load_model
from ..types import DecodeContext
from .base import Backend, BackendState


class LocalBackend(Backend):
    kind = "local"

    def __init__(self, model_dir, card=None, *, model: Model | None = None, ctx: DecodeContext | None = None):
        super().__init__(model_dir, card)
        self._model = model
        self._ctx = ctx
        self._state = None
        self._pool: ThreadPoolExecutor | None = None

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def manifest(self) -> dict:
        if self._model is None:
            self._model = load_model(self.model_dir)
        return self._model.manifest()

    async def start(self, options: dict) -> None:
        self._transition(BackendState.STARTING)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"model-{self.model_dir.name}")
        try:
            if self._model is None:
                self._model = await self._run(load_model, self.model_dir)
            self._state = await self._run(self._model.run_setup, options, self._ctx)
            # A model that picks its device in setup (imported ONNX models do) says so here.
            self.gpu = bool(getattr(getattr(self._model, "module", None), "GPU", self.card.get("gpu", False)))
        except BaseException:
            if self.state is BackendState.STARTING:  # else stop() came first: it stays STOPPED
                self._transition(BackendState.FAILED)
            raise
        self._transition(BackendState.RUNNING)

    async def call(self, command, inputs, *, binary=False, formats=None, timings=None, on_partial=None):
        if self.state is not BackendState.RUNNING:
            raise Conflict(f"model is {self.state.value}, not RUNNING")
        loop = asyncio.get_running_loop()
        partial = None
        if on_partial is not None:
            def partial(out, i):
                loop.call_soon_threadsafe(on_partial, out, i)
        return await self._run(lambda: self._model.run_command(
            self._state, command, inputs, ctx=self._ctx, formats=formats, binary=binary,
            timings=timings, on_partial=partial))

    async def stop(self) -> None:
        self._transition(BackendState.STOPPED)
        self._state = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
