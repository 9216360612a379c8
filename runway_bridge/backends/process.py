"""Run a model in a worker process, so its crashes, hangs and dependencies stay out of the daemon.

- The worker is a fresh interpreter (spawned, never forked: a forked GPU context is unsafe) that
  imports the adapter itself, so user imports never run in the daemon. It is started with
  `subprocess` rather than multiprocessing's spawn context, because spawn hands the child the
  daemon's ``sys.path`` and re-runs the daemon's ``__main__``: a model with its own interpreter
  (card ``[process] python = ".venv/bin/python"``) would then import the daemon's packages, the very
  clash it exists to avoid. The boot line imports `runway_bridge` from this package's folder by
  path and adds nothing else to ``sys.path``; the model's environment needs numpy and OpenCV.
- One socket pair carries pickled `_worker_events`; frames stay JPEG/PNG `Blob`s and are decoded
  and encoded in the worker. Round trips of a 640x480 frame to a worker and back, measured on the
  2-core dev box (benchmarks/ipc_frames.py): JPEG q80 (48 kB) 0.03-0.04 ms as bytes in the message
  vs 0.02 ms through reused shared-memory slots; raw RGB (922 kB) 1.8 ms vs 0.1 ms. Clients send
  JPEG, where the difference is noise next to a 2 ms JPEG decode, so frames cross as bytes: no
  slots to size, share or clean up after a crash. Raw streams would gain from a slot; add one then.
- A reader thread per worker turns messages into event-loop callbacks; sends that could fill the
  socket buffer go through a thread, so the loop never blocks on the worker.
- A worker holds two calls (``concurrency = 2``, pipelined): the next one is sent while the worker
  runs the current one, so it never idles while an answer travels back and the next call comes
  (8 clients on 2 replicas of identity, two cores against one: 1.51x with one call each, 1.85x
  and 1.87x with two, on a quiet 2-core box; `benchmarks/bench_throughput.py`). The worker runs them in order; `_calls.Inflight` keeps them and
  times only the running one. A `Cancel` drops a queued call in the worker before it runs.
- Death (any exit, a signal such as the OOM killer's SIGKILL) or a call running past ``timeout_s``
  (card ``[process] timeout_s``, default 30) fails the running call with `ModelCrashed` naming what
  happened, and the call queued behind it with an error saying it was queued behind a crashed
  call and never ran (503 with a Retry-After while restarting: safe to send again; it is not
  re-sent for the caller, whose frame is stale by then). The worker restarts with backoff (0.5 s, 1 s, 2 s ... 30 s) and the same options, and
  calls meanwhile fail fast with `BackendUnavailable` and a Retry-After; status says RESTARTING.
  Crashes are counted whether they happen in setup or in calls: after `MAX_RESTARTS` in a row
  without one good call the backend gives up (FAILED, with the reason in `gave_up`) instead of
  restarting forever a model that crashes on every frame.
- Card ``[process] memory = "2GiB"`` caps the worker's address space (``RLIMIT_AS``, set by the
  worker on itself before it imports the model). Over it, Python raises ``MemoryError`` in the
  model (the call fails with a message naming the limit; the worker lives on) or a native library
  aborts (a crash, restarted as above); the daemon is untouched either way. An address-space
  limit, not a cgroup: it needs no privileges and works on macOS too, but it counts reserved
  virtual memory (a GPU runtime reserves a lot), so leave it unset for CUDA models.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import sys
from pathlib import Path

try:
    from asyncio import timeout as _timeout
except ImportError:  # Python 3.10: aiohttp's own dependency, same semantics
    from async_timeout import timeout as _timeout

from ..errors import BackendUnavailable, BridgeError, Conflict, ModelCrashed, SetupError
from ..types import DecodeContext
from ._calls import Inflight
from ._worker_events import Call, Cancel, Done, Failed, Loaded, Log, Partial, Ready, Setup
from ._worker_proc import Exited, Worker, describe_exit
from .base import Backend, BackendState

__all__ = ["ProcessBackend", "describe_exit", "parse_size"]

log = logging.getLogger("runway_bridge.worker")

MAX_BACKOFF = 30.0
MAX_RESTARTS = 8  # crashes in a row (setup or calls) without one good call; then give up until started again
MIN_MEMORY = 64 << 20
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)


def parse_size(value) -> int:
    """``2GiB``, ``512m``, ``1.5 GB`` or a number of bytes to bytes (k, m, g, t are powers of 1024)."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    else:
        m = _SIZE.fullmatch(str(value))
        if not m:
            raise ValueError(f"[process] memory = {value!r}: expected a size such as \"2GiB\" or \"512m\"")
        n = int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2).lower() or " "))
    if n < MIN_MEMORY:
        raise ValueError(f"[process] memory = {value!r}: at least 64 MiB (Python and numpy need that to start)")
    return n


def _mib(n: int) -> str:
    return f"{n / (1 << 30):g} GiB" if n % (1 << 30) == 0 else f"{n / (1 << 20):.0f} MiB"


class ProcessBackend(Backend):
    """A model in its own worker process; see the module docstring."""

    kind = "process"
    batching = True
    concurrency = 2  # the worker runs one call while the next one waits in its socket
    pipelined = True

    def __init__(self, model_dir, card=None, *, timeout_s: float | None = None, setup_timeout_s: float | None = None,
                 python: str | None = None, gpu: bool | None = None, ctx: DecodeContext | None = None):
        super().__init__(model_dir, card)
        conf = self.card.get("process") or {}
        self.name = self.card.get("id") or self.model_dir.stem
        self.timeout_s = float(timeout_s or conf.get("timeout_s") or 30)
        self.setup_timeout_s = float(setup_timeout_s or conf.get("setup_timeout_s") or 300)
        python = python or conf.get("python")
        if python and "/" in str(python) and not Path(python).is_absolute():
            python = self.model_dir / python  # relative to the adapter, e.g. ".venv/bin/python"
        self.python = str(python or sys.executable)
        self._want_gpu = bool(conf.get("gpu", self.card.get("gpu", False)) if gpu is None else gpu)
        try:
            self.memory = parse_size(conf["memory"]) if conf.get("memory") else 0
        except ValueError as e:  # the card's mistake: said when the model starts, not as a traceback
            raise SetupError(f"model {self.name}: {e}") from None
        self.max_crashes = int(conf.get("max_crashes") or MAX_RESTARTS)
        self.gave_up: str | None = None  # why it stopped restarting (the host goes FAILED with it)
        self._ctx = ctx
        self._options: dict = {}
        self._manifest: dict | None = None
        self._worker: Worker | None = None
        self._boot_fut: asyncio.Future | None = None
        self._calls = Inflight(self.concurrency, self.timeout_s, self._timed_out, self._output_clear)
        self._send_lock = asyncio.Lock()  # calls reach the worker in the order they join `_calls`
        self._crashes = 0
        self._down: str | None = None  # why the worker is down, while it restarts
        self._restart_task: asyncio.Task | None = None
        self._ready_at = 0.0
        self._output: collections.deque[str] = collections.deque(maxlen=20)

    def _output_clear(self) -> None:
        self._output.clear()

    # -- events from the worker (on the loop) ---------------------------------------------------
    def _on_event(self, worker: Worker, ev) -> None:
        if worker is not self._worker:
            return  # a worker we already replaced
        if isinstance(ev, Log):
            self._output.append(ev.text)
            log.info("[%s %s] %s", self.name, ev.stream, ev.text)
        elif isinstance(ev, Exited):
            self._worker_lost(f"worker {describe_exit(ev.code)}")
        elif isinstance(ev, (Loaded, Ready)) or (isinstance(ev, Failed) and ev.id is None):
            if self._boot_fut is not None and not self._boot_fut.done():
                self._boot_fut.set_result(ev)
        elif isinstance(ev, Partial):
            call = self._calls.get(ev.id)
            if call is not None and call.on_partial is not None:
                call.on_partial(ev.outputs, ev.index)
        elif isinstance(ev, (Done, Failed)):
            call = self._calls.pop(ev.id)
            if call is not None and isinstance(ev, Done):
                call.finish(result=ev)
            elif call is not None:
                call.finish(error=ev.error)

    def _worker_lost(self, what: str) -> None:
        """The worker died or hung: fail whoever waits, and restart it if it was serving."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()
        last = f" (last output: {self._output[-1]})" if self._output else ""
        if self._boot_fut is not None and not self._boot_fut.done():
            self._boot_fut.set_exception(SetupError(f"model {self.name}: {what} during setup{last}"))
        serving = self.state is BackendState.RUNNING
        if serving:
            self._transition(BackendState.FAILED)
            self._down = what + self._memory_note()
            self._crashes += 1
            if self._crashes >= self.max_crashes:  # crashing on every call: restarting again would not help
                self._give_up()
            else:
                log.warning("model %s: %s; restarting", self.name, what)
                self._restart_task = asyncio.get_running_loop().create_task(self._restart())
        then = "given up" if self.gave_up else "restarting"
        self._calls.fail_all(
            ModelCrashed(f"model {self.name} crashed: {what}{self._memory_note()}; {then}{last}"),
            lambda: self._not_run(what))

    def _not_run(self, what: str) -> BridgeError:
        """For a call queued behind one that crashed or hung the worker: it never ran, so sending it
        again is safe; 503 with a Retry-After while the worker restarts."""
        said = f"model {self.name}: not run: it was queued behind a call that crashed the worker ({what})"
        if self.gave_up or self._restart_task is None:
            return ModelCrashed(f"{said}; given up" if self.gave_up else said)
        return BackendUnavailable(f"{said}; restarting, send it again", retry_after=round(self._backoff() + 1, 1))

    def _backoff(self) -> float:
        return min(0.5 * 2 ** (self._crashes - 1), MAX_BACKOFF)

    def _give_up(self) -> None:
        self.gave_up = (f"model {self.name} crashed {self._crashes} times in a row without one good call and was "
                        f"given up: {self._down}; fix it, then start it again")
        log.error("%s", self.gave_up)
        self._restart_task = None

    def _memory_note(self) -> str:
        return f" (its memory limit is {_mib(self.memory)}: [process] memory in its card)" if self.memory else ""

    @property
    def restarting(self) -> bool:
        """True while the worker is down and being brought back (status and /readyz: RESTARTING)."""
        return self._restart_task is not None

    @property
    def detail(self) -> str | None:
        """Why the worker is down while it restarts (shown in the model's status)."""
        if self.gave_up:
            return self.gave_up
        return f"worker down: {self._down}; restarting" if self._down else None

    def _timed_out(self, call) -> None:
        if self._calls.running is call:
            self._worker_lost(f"worker gave no answer within {self.timeout_s:g} s and was killed")

    # -- lifecycle ------------------------------------------------------------------------------
    async def _boot(self) -> None:
        """Start a worker, import the model, run setup; raise what failed, with the worker's words."""
        loop = asyncio.get_running_loop()
        self._output.clear()
        self._boot_fut = loop.create_future()
        worker = self._worker = Worker(self.python, self.model_dir, self._on_event, loop, self.memory)
        try:
            try:
                await asyncio.to_thread(worker.launch)
            except OSError as e:
                raise SetupError(f"model {self.name}: cannot start a worker with {self.python}: {e}") from None
            async with _timeout(self.setup_timeout_s):
                ev = await self._boot_fut
                if isinstance(ev, Loaded):
                    self._manifest = ev.manifest
                    self._boot_fut = loop.create_future()
                    await worker.send(Setup(self._options, self._ctx, self._want_gpu))
                    ev = await self._boot_fut
            if isinstance(ev, Failed):
                raise self._explained(ev.error)
            self.gpu = ev.gpu
        except (TimeoutError, asyncio.TimeoutError):  # distinct classes on 3.10
            self._discard()
            raise SetupError(f"model {self.name}: setup gave no answer within {self.setup_timeout_s:g} s") from None
        except BaseException:
            self._discard()
            raise
        finally:
            self._boot_fut = None

    def _discard(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()

    async def _restart(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            delay = self._backoff()
            self._ready_at = loop.time() + delay
            await asyncio.sleep(delay)
            self._transition(BackendState.STARTING)
            try:
                await self._boot()
            except BridgeError as e:
                self._transition(BackendState.FAILED)
                self._down, self._crashes = e.message, self._crashes + 1
                if self._crashes >= self.max_crashes:
                    self._give_up()
                    return
                continue
            self._transition(BackendState.RUNNING)
            self._down = self._restart_task = None
            log.info("model %s: worker restarted", self.name)
            return

    async def start(self, options: dict) -> None:
        self._transition(BackendState.STARTING)
        if self._restart_task is not None:  # started again by hand while it was restarting
            self._restart_task.cancel()
            self._restart_task = None
        self._discard()
        self._calls.fail_all(Conflict(f"model {self.name} was started again"),
                             lambda: Conflict(f"model {self.name} was started again"))
        self._options, self._crashes, self._down, self.gave_up = dict(options or {}), 0, None, None
        try:
            await self._boot()
        except BaseException:
            if self.state is BackendState.STARTING:
                self._transition(BackendState.FAILED)
            raise
        self._transition(BackendState.RUNNING)

    async def wait_running(self, timeout: float = 30) -> None:
        """Wait until a restarting worker serves again (tests, and a host that prefers waiting)."""
        async with _timeout(timeout):
            while self.state is not BackendState.RUNNING:
                if self._restart_task is None and self.state is not BackendState.STARTING:
                    raise Conflict(f"model {self.name} is {self.state.value} and not restarting")
                await asyncio.sleep(0.05)

    async def manifest(self) -> dict:
        if self._manifest is None:  # import the model in a short-lived worker, never in the daemon
            loop = asyncio.get_running_loop()
            got: asyncio.Future = loop.create_future()

            def on_event(_w, ev):
                if isinstance(ev, (Loaded, Failed, Exited)) and not got.done():
                    got.set_result(ev)

            worker = Worker(self.python, self.model_dir, on_event, loop, self.memory)
            await asyncio.to_thread(worker.launch)
            try:
                ev = await asyncio.wait_for(got, self.setup_timeout_s)
            finally:
                await asyncio.to_thread(worker.close)
            if isinstance(ev, Failed):
                raise ev.error
            if isinstance(ev, Exited):
                raise SetupError(f"model {self.name}: worker {describe_exit(ev.code)} while importing")
            self._manifest = ev.manifest
        return self._manifest

    async def stop(self) -> None:
        self._transition(BackendState.STOPPED)
        if self._restart_task is not None:
            self._restart_task.cancel()
            self._restart_task = None
        worker, self._worker = self._worker, None
        busy = len(self._calls) > 0  # then it may not read our Shutdown soon: kill it sooner
        self._calls.fail_all(Conflict(f"model {self.name} was stopped"),
                             lambda: Conflict(f"model {self.name} was stopped before the call ran"))
        if self._boot_fut is not None and not self._boot_fut.done():
            self._boot_fut.set_exception(Conflict(f"model {self.name} was stopped while starting"))
        if worker is not None:
            await asyncio.to_thread(worker.close, 0.5 if busy else 2.0)

    def _explained(self, err: BridgeError) -> BridgeError:
        """A model's ``MemoryError`` under the card's limit says which limit it hit."""
        if self.memory and "MemoryError" in err.message and "memory limit" not in err.message:
            err.message = f"{err.message.rstrip(': ')}: out of memory{self._memory_note()}"
            err.args = (err.message,)
        return err

    # -- calls ----------------------------------------------------------------------------------
    def _check_up(self) -> None:
        if self.state is BackendState.RUNNING and self._worker is not None:
            return
        if self._restart_task is not None:
            wait = max(0.5, self._ready_at - asyncio.get_running_loop().time() + 1.0)
            raise BackendUnavailable(f"model {self.name} is restarting: {self._down}", retry_after=round(wait, 1))
        if self.gave_up is not None:
            raise ModelCrashed(self.gave_up)
        if self._down is not None:
            raise ModelCrashed(f"model {self.name} kept crashing and was given up: {self._down}")
        raise Conflict(f"model {self.name} is {self.state.value}, not RUNNING")

    async def call(self, command, inputs, *, binary=False, formats=None, timings=None, on_partial=None):
        return await self._call(Call(0, command, inputs, binary, formats, on_partial is not None), timings, on_partial)

    async def call_batch(self, command, inputs, *, binary=False, formats=None, timings=None):
        return await self._call(Call(0, command, list(inputs), binary, formats, batch=True), timings, None)

    async def _call(self, msg: Call, timings, on_partial):
        self._check_up()
        call = worker = None
        try:
            async with self._send_lock:
                await self._calls.wait_room()  # a caller that gave up holds its place until answered
                self._check_up()
                worker = self._worker
                call = self._calls.add(on_partial)
                msg.id = call.id
                try:
                    await worker.send(msg)
                except OSError:  # the worker died while we wrote; its reader thread reports how
                    pass
            done = await asyncio.shield(call.future)
        except asyncio.CancelledError:
            if call is not None and self._calls.get(call.id) is call and worker is self._worker:
                asyncio.get_running_loop().run_in_executor(None, worker.send_quietly, Cancel(call.id))
            raise
        except BridgeError as e:
            raise self._explained(e) from None
        self._crashes = 0
        if timings is not None:
            timings.update(done.timings)
        return done.outputs
