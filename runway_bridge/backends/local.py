"""Run a model in the daemon's own process, on one dedicated thread per model.

One thread per model keeps the event loop free and calls into the model serial (most models are
not thread-safe); OpenCV and ONNX Runtime release the GIL, so models still run in parallel.
The host keeps two calls in flight here. A call behind another is pipelined: its inputs are
decoded and its outputs encoded on the shared `codec_pool` while the model thread runs the other
one's inference. A call alone runs whole on the model thread: one thread hop instead of three,
and nothing to overlap. Generators always run whole.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from .. import codec_pool
from ..errors import BadInput, Conflict
from ..model import Model, load_model, ok, refill
from ..types import DecodeContext
from .base import Backend, BackendState


class LocalBackend(Backend):
    kind = "local"
    concurrency = 2  # one call infers while the next decodes
    pipelined = True
    batching = True

    def __init__(self, model_dir, card=None, *, model: Model | None = None, ctx: DecodeContext | None = None):
        super().__init__(model_dir, card)
        self._model = model
        self._ctx = ctx
        self._state = None
        self._pool: ThreadPoolExecutor | None = None
        self._calls = 0  # in flight here: the first runs whole, one behind it is pipelined

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

    def _check(self) -> None:
        if self.state is not BackendState.RUNNING:
            raise Conflict(f"model is {self.state.value}, not RUNNING")

    async def call(self, command, inputs, *, binary=False, formats=None, timings=None, on_partial=None):
        self._check()
        cmd = self._model.get_command(command)
        alone = cmd.is_generator or not self._calls  # one hop to the model thread, nothing to overlap
        self._calls += 1
        try:
            if alone:
                return await self._whole(command, inputs, binary, formats, timings, on_partial)
            return await self._pipelined(cmd, command, inputs, binary, formats, timings)
        finally:
            self._calls -= 1

    async def _pipelined(self, cmd, command, inputs, binary, formats, timings):
        """Behind another call: decode on the codec pool while that one runs, then infer, then
        encode on the pool while the model thread takes the next."""
        t = timings if timings is not None else {}
        t0 = time.perf_counter()
        args = await codec_pool.run(self._model.decode, command, inputs, self._ctx)
        t1 = time.perf_counter()
        if cmd.batch:  # a batching command called alone (batching off, or another path): a batch of one
            raw, t["model"] = await self._run(_timed, self._model.infer_batch, self._state, command, [args])
            raw = raw[0]
        else:
            raw, t["model"] = await self._run(_timed, self._model.infer, self._state, command, args)
        t2 = time.perf_counter()
        out = await codec_pool.run(self._model.encode, command, raw, formats, binary)
        t["decode"] = (t1 - t0) * 1000
        t["wait"] = max(0.0, (t2 - t1) * 1000 - t["model"])  # behind the call before it
        t["encode"] = (time.perf_counter() - t2) * 1000
        return out

    async def _whole(self, command, inputs, binary, formats, timings, on_partial):
        """Decode, infer and encode on the model thread (a generator's steps sent as they come)."""
        loop = asyncio.get_running_loop()
        partial = None
        if on_partial is not None:
            def partial(out, i):
                loop.call_soon_threadsafe(on_partial, out, i)
        return await self._run(lambda: self._model.run_command(
            self._state, command, inputs, ctx=self._ctx, formats=formats, binary=binary,
            timings=timings, on_partial=partial))

    async def call_batch(self, command, inputs, *, binary=False, formats=None, timings=None):
        """Decode every frame on the codec pool at once, infer the batch on the model thread, encode."""
        self._check()
        if not self._model.get_command(command).batch:
            raise BadInput(f"{command} does not take a batch")
        m, t = self._model, (timings if timings is not None else {})
        t0 = time.perf_counter()
        slots = await asyncio.gather(*(codec_pool.run(m.decode_or_error, command, one, self._ctx) for one in inputs))
        t1 = time.perf_counter()
        results, t["model"] = await self._run(_timed, m.infer_batch, self._state, command, ok(slots))
        t2 = time.perf_counter()
        encoded = await asyncio.gather(*(codec_pool.run(m.encode_or_error, command, r, formats, binary)
                                         for r in results))
        t["decode"] = (t1 - t0) * 1000
        t["wait"] = max(0.0, (t2 - t1) * 1000 - t["model"])
        t["encode"] = (time.perf_counter() - t2) * 1000
        return refill(slots, encoded)

    async def stop(self) -> None:
        self._transition(BackendState.STOPPED)
        self._state = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _timed(fn, *args):
    """On the model thread: `fn`'s result and the milliseconds it took. The host times its next
    call by this, so it must not include the wait for the thread."""
    t = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - t) * 1000
