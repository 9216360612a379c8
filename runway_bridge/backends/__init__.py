"""Where a model runs. Every backend has the same interface (`base.Backend`); `create` picks one.

The factory lives here, not in `base.py`, so that the interface does not import its implementations.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BadInput
from .base import Backend, BackendState, Pending

__all__ = ["Backend", "BackendState", "Pending", "create", "KINDS"]

KINDS = ("local", "process", "docker", "remote", "ray")


def create(kind: str, model_dir: Path, card: dict | None = None, **kwargs) -> Backend:
    """The backend named `kind` for the adapter in `model_dir`."""
    if kind == "local":
        from .local import LocalBackend as cls
    elif kind == "process":
        from .process import ProcessBackend as cls
    elif kind == "docker":
        from .docker import DockerBackend as cls
    elif kind == "remote":
        from .remote import RemoteBackend as cls
    elif kind == "ray":  # imports Ray only when started (the optional [ray] extra)
        from .ray import RayBackend as cls
    else:
        raise BadInput(f"unknown backend {kind!r}; choose one of {', '.join(KINDS)}")
    return cls(model_dir, card, **kwargs)
