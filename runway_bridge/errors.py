"""One error hierarchy for the whole bridge.

Every error carries its HTTP status and a JSON form, so no transport picks a status inline::

    BridgeError                      500
    ├── BadInput                     400  missing input, wrong length, out of range, undecodable image
    ├── Unauthorized                 401  missing or wrong token
    ├── NotFound                     404  unknown model or command
    ├── Conflict                     409  model not running / already running
    ├── TooLarge                     413  request body over the limit
    ├── SetupError                   500  the model's setup raised
    ├── InferenceError               500  a command raised
    ├── ModelCrashed                 502  the worker died or hung
    └── BackendUnavailable           503  queue full, backend down (with Retry-After)
"""

from __future__ import annotations

__all__ = [
    "BridgeError",
    "BadInput",
    "Unauthorized",
    "NotFound",
    "Conflict",
    "TooLarge",
    "SetupError",
    "InferenceError",
    "ModelCrashed",
    "BackendUnavailable",
    "from_status",
]


class BridgeError(Exception):
    """Base class: a message for the user, an HTTP status, and a JSON body."""

    status = 500

    def __init__(self, message: str, *, field: str | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after = retry_after
        self.traceback: list[str] | None = None

    # Runway SDK exceptions expose `code`; keep it as an alias of `status`.
    @property
    def code(self) -> int:
        return self.status

    def to_dict(self, debug: bool = False) -> dict:
        body: dict = {"error": self.message}
        if self.field is not None:
            body["field"] = self.field
        if debug and self.traceback:
            body["traceback"] = self.traceback
        return body

    # Runway SDK name for the same thing.
    def to_response(self) -> dict:
        return self.to_dict()

    def __reduce__(self):  # survive pickling across worker processes
        return (_rebuild, (type(self), self.message, self.field, self.retry_after, self.traceback))


def _rebuild(cls, message, field, retry_after, traceback):
    err = cls.__new__(cls)
    BridgeError.__init__(err, message, field=field, retry_after=retry_after)
    err.traceback = traceback
    return err


class BadInput(BridgeError):
    status = 400


class Unauthorized(BridgeError):
    status = 401


class NotFound(BridgeError):
    status = 404


class Conflict(BridgeError):
    status = 409


class TooLarge(BridgeError):
    status = 413


class SetupError(BridgeError):
    status = 500


class InferenceError(BridgeError):
    status = 500


class ModelCrashed(BridgeError):
    status = 502


class BackendUnavailable(BridgeError):
    status = 503


_BY_STATUS = {cls.status: cls for cls in (BadInput, Unauthorized, NotFound, Conflict, TooLarge, ModelCrashed,
                                          BackendUnavailable)}


def from_status(status: int, message: str, *, field: str | None = None,
                server_error: type[BridgeError] = InferenceError) -> BridgeError:
    """Another bridge's error answer (an HTTP status and its message) as the matching class here;
    500 becomes `server_error`, since the status alone cannot tell setup from inference."""
    cls = server_error if status == 500 else _BY_STATUS.get(status, BridgeError)
    err = cls(message, field=field)
    if cls is BridgeError:
        err.status = status
    return err
