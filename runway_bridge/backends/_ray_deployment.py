"""The replica side of the Ray backend: one adapter loaded in a Ray Serve replica.

Runs inside Ray's worker processes; nothing here runs in the daemon and nothing here imports Ray
(`ray.RayBackend` wraps this class with ``serve.deployment``). Errors travel back as values, not
raised: Ray wraps a raised exception in its own class with the replica's traceback as the message,
while the bridge's errors already say what the client should read.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from ..errors import BridgeError, InferenceError
from ..model import load_model
from ..types import DecodeContext


def _unpack(files: dict[str, bytes]) -> Path:
    """The adapter's files into a folder of this replica's own (removed with its process's temp)."""
    root = Path(tempfile.mkdtemp(prefix="runway_bridge_adapter_"))
    for rel, data in files.items():
        path = (root / rel).resolve()
        if root.resolve() not in path.parents:  # a path that climbs out: never written
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


class ModelReplica:
    """Imports the adapter and runs its setup once per replica; then runs commands."""

    def __init__(self, where: str | dict, options: dict, ctx: DecodeContext | None, gpu: bool = False):
        self.ctx, self.error, self.model, self.state = ctx, None, None, None
        self.gpu = gpu
        self._lock = threading.Lock()  # one call at a time in the model; the others wait here, not in Ray's router
        try:  # a path on this machine, or the adapter's files (a cluster's node that lacks the folder)
            self.model = load_model(Path(where) if isinstance(where, str) else _unpack(where))
            self.state = self.model.run_setup(options, ctx)
            self.gpu = bool(getattr(self.model.module, "GPU", gpu))
        except BridgeError as e:  # kept, and answered to `ready`: the daemon says it once, as SetupError
            self.error = e

    def ready(self) -> dict:
        """What the daemon needs after deploying: the setup's outcome and the manifest."""
        return {"pid": os.getpid(), "error": self.error, "gpu": self.gpu,
                "manifest": self.model.manifest() if self.model is not None else None}

    def call(self, command: str, inputs: dict, binary: bool, formats: dict | None):
        """``(outputs, timings, None)`` or ``(None, None, error)``. Frames arrive and leave as `Blob`
        bytes pickled by Ray (inline, or through its object store when large): no base64."""
        if self.error is not None:
            return None, None, self.error
        timings: dict = {}
        try:
            with self._lock:
                out = self.model.run_command(self.state, command, inputs, ctx=self.ctx, formats=formats,
                                             binary=binary, timings=timings)
        except BridgeError as e:
            return None, None, e
        except Exception as e:  # run_command wraps the model's own errors; this is a bug of ours
            return None, None, InferenceError(f"{command} failed: {type(e).__name__}: {e}")
        return dict(out), timings, None

    def call_batch(self, command: str, inputs: list, binary: bool, formats: dict | None):
        """A batching command once on a list of inputs: ``(entries, timings, None)``, each entry the
        outputs of one input or its own `BridgeError`; or ``(None, None, error)`` for the whole call."""
        if self.error is not None:
            return None, None, self.error
        timings: dict = {}
        try:
            with self._lock:
                out = self.model.run_batch(self.state, command, inputs, ctx=self.ctx, formats=formats,
                                           binary=binary, timings=timings)
        except BridgeError as e:
            return None, None, e
        except Exception as e:
            return None, None, InferenceError(f"{command} failed: {type(e).__name__}: {e}")
        return [o if isinstance(o, BridgeError) else dict(o) for o in out], timings, None
