"""The one interface every backend implements. The factory that picks one is in `backends/__init__.py`."""

from __future__ import annotations

import abc
import asyncio
import enum
from collections.abc import Callable
from pathlib import Path

from ..errors import Conflict

__all__ = ["Backend", "BackendState", "Pending"]


class BackendState(enum.Enum):
    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    FAILED = "FAILED"


_LEGAL = {
    BackendState.STOPPED: {BackendState.STARTING},
    BackendState.STARTING: {BackendState.RUNNING, BackendState.FAILED, BackendState.STOPPED},
    BackendState.RUNNING: {BackendState.STOPPED, BackendState.FAILED, BackendState.STARTING},
    BackendState.FAILED: {BackendState.STARTING, BackendState.STOPPED},
}


class Backend(abc.ABC):
    """Runs one model's setup and commands somewhere: a thread, a process, a container, a host.

    `call` takes wire inputs (JSON values; images as data URIs, base64, `Blob`s or arrays) and
    returns wire outputs with images as `Blob`s when `binary`, data URIs otherwise. It fills
    `timings` with ``decode``, ``model`` and ``encode`` milliseconds when it can.
    """

    kind = "abstract"
    gpu = False
    # How many calls the host may have in flight here at once: 1 runs them one by one; a backend
    # that pipelines (decodes the next frame while the model runs) or scales out says more.
    concurrency = 1
    # True when calls beyond the first only overlap their decoding and encoding with the running one
    # (one model thread): the host then sends the next one just in time, not at once.
    pipelined = False
    # Whether `call_batch` runs a list of inputs as one call of a batching command.
    batching = False

    def __init__(self, model_dir: Path | None, card: dict | None = None):
        self.model_dir = Path(model_dir) if model_dir is not None else None  # None: runs elsewhere (remote)
        self.card = card or {}
        self.state = BackendState.STOPPED

    def _transition(self, new: BackendState) -> None:
        if new is not self.state and new not in _LEGAL[self.state]:
            raise Conflict(f"{self.kind} backend cannot go from {self.state.value} to {new.value}")
        self.state = new

    @property
    def detail(self) -> str | None:
        """One line on the backend's health for the model's status (why it is down, when it retries);
        None while all is well."""
        return None

    @abc.abstractmethod
    async def start(self, options: dict) -> None:
        """Load the model (run its setup with `options`); raise `SetupError` on failure."""

    @abc.abstractmethod
    async def call(self, command: str, inputs: dict, *, binary: bool = False, formats: dict | None = None,
                   timings: dict | None = None, on_partial: Callable[[dict, int], None] | None = None) -> dict:
        """Run one command to its end and return its outputs."""

    async def call_batch(self, command: str, inputs: list[dict], *, binary: bool = False,
                         formats: dict | None = None, timings: dict | None = None) -> list:
        """Run a batching command (``@command(..., batch=N)``) once on a list of inputs; returns one
        entry per input, in order: its outputs, or the `BridgeError` of that input alone (one bad
        frame fails only itself). An error of the whole call raises."""
        raise NotImplementedError(f"the {self.kind} backend does not run batches")

    async def manifest(self) -> dict:
        """The model's options and commands, as `Model.manifest` gives them."""
        raise NotImplementedError

    @abc.abstractmethod
    async def stop(self) -> None:
        """Unload the model and free what it holds."""


class Pending:
    """One call waiting for its answer from a worker, a container or a remote daemon."""

    def __init__(self, future: asyncio.Future, on_partial: Callable | None = None):
        self.future, self.on_partial = future, on_partial
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # a caller may have gone

    def finish(self, result=None, error: BaseException | None = None) -> None:
        if not self.future.done():
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(result)
