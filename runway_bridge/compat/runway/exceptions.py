"""The old SDK's exceptions, with its messages and codes, each with `message`, `code`,
`get_traceback()`, `print_exception()` and `to_response()` (``{"error", "traceback"}``).

They are the bridge's own classes (`runway_bridge.errors`), so the bridge's validation errors are
`InvalidArgumentError`s here too; only `InferenceError` and `SetupError` format their message
the old way (``Error during inference: WHY.``) on top of the bridge's classes.
"""

from runway_bridge import errors as _e
from runway_bridge.errors import (
    InvalidArgumentError,
    MissingArgumentError,
    MissingInputError,
    MissingOptionError,
    RunwayError,
    UnknownCommandError,
)

__all__ = [
    "RunwayError", "MissingOptionError", "MissingInputError", "InvalidArgumentError", "InferenceError",
    "UnknownCommandError", "SetupError", "MissingArgumentError",
]


class InferenceError(_e.InferenceError):
    """An uncaught exception in a command: ``Error during inference: WHY.`` (500)."""

    def __init__(self, message):
        super().__init__(f"Error during inference: {message}.")


class SetupError(_e.SetupError):
    """An uncaught exception in setup: ``Error during setup: WHY.`` (500)."""

    def __init__(self, message):
        super().__init__(f"Error during setup: {message}.")
