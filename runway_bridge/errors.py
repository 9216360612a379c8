"""One error hierarchy for the whole bridge.

Every error carries its HTTP status and a JSON form, so no transport picks a status inline. The
old Runway SDK's names are part of it (``runway.exceptions`` re-exports them), so a model file
that catches ``InvalidArgumentError`` also catches every validation error of the bridge::

    BridgeError (= RunwayError)      500
    ├── InvalidArgumentError         400  a type's value check or constructor argument
    │   └── BadInput                 400  missing input, wrong length, out of range, undecodable image
    │       ├── MissingInputError    400
    │       └── MissingOptionError   400
    ├── MissingArgumentError         500  a type constructed without a required argument
    ├── Unauthorized                 401  missing or wrong token
    ├── NotFound                     404  unknown model or command
    │   └── UnknownCommandError      404
    ├── Conflict                     409  model not running / already running
    ├── TooLarge                     413  request body over the limit
    ├── SetupError                   500  the model's setup raised
    ├── InferenceError               500  a command raised
    ├── ModelCrashed                 502  the worker died or hung
    └── BackendUnavailable           503  queue full, backend down (with Retry-After)
"""

from __future__ import annotations

import sys
import traceback as _tb

__all__ = [
    "BridgeError",
    "RunwayError",
    "InvalidArgumentError",
    "MissingArgumentError",
    "MissingInputError",
    "MissingOptionError",
    "UnknownCommandError",
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

    def __init__(self, message: str = "An unknown error occurred.", *, field: str | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after = retry_after
        self.detail = message
        self.traceback: list[str] | None = None

    # Runway SDK exceptions expose `code` (and old model files assign it); an alias of `status`.
    @property
    def code(self) -> int:
        return self.status

    @code.setter
    def code(self, value: int) -> None:
        self.status = int(value)

    def get_traceback(self) -> list[str]:
        """The traceback as stripped lines: the one recorded where the author's code failed, else
        this exception's own, else the exception being handled (the old SDK's rule)."""
        if self.traceback:
            return list(self.traceback)
        tb = self.__traceback__ or sys.exc_info()[2]
        return [line.strip() for line in _tb.format_tb(tb)] if tb else []

    def print_exception(self) -> None:
        """Print the message and traceback to stderr, in red, as the old SDK did."""
        sys.stderr.write("\033[91m\n" + self.message + "\n")
        for line in self.get_traceback():
            sys.stderr.write(line + "\n")
        sys.stderr.write("\033[0m\n")

    def to_dict(self, debug: bool = False) -> dict:
        body: dict = {"error": self.message}
        if self.field is not None:
            body["field"] = self.field
        if debug and self.traceback:
            body["traceback"] = self.traceback
        return body

    def to_response(self) -> dict:
        """The old SDK's form, ``{"error", "traceback"}``; the wire sends `to_dict` (traceback
        only in debug)."""
        return {"error": self.message, "traceback": self.get_traceback()}

    def __reduce__(self):  # survive pickling across worker processes
        return (_rebuild, (type(self), self.message, self.field, self.retry_after, self.traceback))


def _rebuild(cls, message, field, retry_after, traceback):
    err = cls.__new__(cls)
    BridgeError.__init__(err, message, field=field, retry_after=retry_after)
    err.traceback = traceback
    return err


RunwayError = BridgeError


class InvalidArgumentError(BridgeError):
    """A value, or a data type's constructor argument, is invalid: ``Invalid argument: NAME. WHY``."""

    status = 400

    def __init__(self, name: str, message: str | None = None):
        text = f"Invalid argument: {name}." + (f" {message}" if message else "")
        BridgeError.__init__(self, text, field=name)
        self.detail = message


class MissingArgumentError(BridgeError):
    """A data type was declared without an argument it needs (a bug in the model file: 500)."""

    status = 500

    def __init__(self, arg: str):
        super().__init__(f"Missing argument: {arg}.")


class BadInput(InvalidArgumentError):
    """Bad input from a client, with a message of its own (and the field at fault)."""

    status = 400

    def __init__(self, message: str = "Invalid input.", *, field: str | None = None,
                 retry_after: float | None = None):
        BridgeError.__init__(self, message, field=field, retry_after=retry_after)
        self.detail = message


class MissingInputError(BadInput):
    def __init__(self, name: str, message: str | None = None):
        super().__init__(message or f"Missing input: {name}.", field=name)


class MissingOptionError(BadInput):
    def __init__(self, name: str, message: str | None = None):
        super().__init__(message or f"Missing option: {name}.", field=name)


class Unauthorized(BridgeError):
    status = 401


class NotFound(BridgeError):
    status = 404


class UnknownCommandError(NotFound):
    def __init__(self, name: str):
        super().__init__(f"Unknown command: {name}.")


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
