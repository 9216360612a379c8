"""The old SDK's exceptions, each with `code`, `message` and `to_response()`."""

from runway_bridge.errors import BadInput, BridgeError, InferenceError, NotFound, SetupError

__all__ = [
    "RunwayError", "MissingOptionError", "MissingInputError", "InvalidArgumentError", "InferenceError",
    "UnknownCommandError", "SetupError", "MissingArgumentError",
]

RunwayError = BridgeError


class MissingOptionError(BadInput):
    def __init__(self, name):
        super().__init__(f"Missing option: {name}.", field=name)


class MissingInputError(BadInput):
    def __init__(self, name):
        super().__init__(f"Missing input: {name}.", field=name)


class InvalidArgumentError(BadInput):
    def __init__(self, name, message=None):
        super().__init__(f"Invalid argument: {name}." + (f" {message}" if message else ""), field=name)


class MissingArgumentError(BadInput):
    def __init__(self, name):
        super().__init__(f"Missing argument: {name}.", field=name)


class UnknownCommandError(NotFound):
    def __init__(self, name):
        super().__init__(f"Unknown command: {name}.")
