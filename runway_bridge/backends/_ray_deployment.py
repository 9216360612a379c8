"""The replica side of the Ray backend: one adapter loaded in a Ray Serve replica.

Runs inside Ray's worker processes; nothing here runs in the daemon and nothing here imports Ray
(`ray.RayBackend` wraps this class with ``serve.deployment``). Errors travel back as values, not
raised: Ray wraps a raised exception in its own class with the replica's traceback as the message,
while the bridge's errors already say what the client should read.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import BridgeError, InferenceError
from ..model import load_model
from ..types import DecodeContext


class ModelReplica:
    """Imports the adapter and runs its setup once per replica; then runs commands."""

    def __init__(self, model_dir: str | None, options: dict, ctx: DecodeContext | None, gpu: bool = False):
        self.ctx, self.error, self.model, self.state = ctx, None, None, None
        self.gpu = gpu
        try:  # None: the adapter was shipped as this replica's working_dir (a cluster elsewhere)
            self.model = load_model(Path(model_dir) if model_dir else Path.cwd())
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
            out = self.model.run_command(self.state, command, inputs, ctx=self.ctx, formats=formats,
                                         binary=binary, timings=timings)
        except BridgeError as e:
            return None, None, e
        except Exception as e:  # run_command wraps the model's own errors; this is a bug of ours
            return None, None, InferenceError(f"{command} failed: {type(e).__name__}: {e}")
        return dict(out), timings, None
