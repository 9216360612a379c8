"""Where a model runs. Every backend has the same interface (`base.Backend`); `create` picks one."""

from .base import Backend, BackendState, create

__all__ = ["Backend", "BackendState", "create"]
