"""One bounded JSON decoder and encoder for every transport.

Clients' bytes reach `loads` on every transport (HTTP bodies, WebSocket headers, Socket.IO
events, OSC strings, job messages), so it bounds what the standard library does not: nesting
depth (the C scanner would recurse to the interpreter's limit and raise `RecursionError`, a 500),
integer size (a 4,000-digit number costs quadratic time to convert), and NUL-free, well-formed
UTF-8. Failures are `BadInput` (400), never a traceback. `dumps` bounds the other direction: a
model's output nested too deep becomes an `InferenceError` instead of killing result delivery.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import BadInput, InferenceError

__all__ = ["loads", "dumps", "check_depth", "MAX_DEPTH", "MAX_INT_DIGITS"]

MAX_DEPTH = 64
MAX_INT_DIGITS = 64


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BadInput(f"a number in the JSON has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _parse_constant(name: str):
    raise BadInput(f"{name} is not valid JSON")


_CONTAINERS = (dict, list, tuple)


def check_depth(value: Any, max_depth: int = MAX_DEPTH, error: type = BadInput) -> None:
    """Raise `error` if lists and dicts nest deeper than `max_depth` (iterative: no recursion).

    Runs on every result a model sends (478 landmarks are 479 lists), so it touches each
    container once and never builds a generator per container."""
    if not isinstance(value, _CONTAINERS):
        return
    stack = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if depth > max_depth:
            raise error(f"the JSON nests deeper than {max_depth} levels")
        for child in (item.values() if isinstance(item, dict) else item):
            if isinstance(child, _CONTAINERS):
                push((child, depth + 1))


def loads(data: str | bytes | bytearray | memoryview, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON from a client, bounded in depth and integer size; `BadInput` on anything wrong."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadInput(f"the JSON is not valid UTF-8 (byte {e.start})") from None
    try:
        value = json.loads(data, parse_int=_parse_int, parse_constant=_parse_constant)
    except RecursionError:
        raise BadInput(f"the JSON nests deeper than {max_depth} levels") from None
    except json.JSONDecodeError as e:
        raise BadInput(f"the body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except ValueError as e:  # e.g. an integer over Python's digit limit
        raise BadInput(f"the body is not valid JSON: {e}") from None
    check_depth(value, max_depth)
    return value


def dumps(value: Any, *, max_depth: int | None = MAX_DEPTH, **kwargs) -> str:
    """Compact JSON of a result; `InferenceError` when it nests too deep or cannot be encoded.
    ``max_depth=None``: the caller has checked the depth already (the encoder's own recursion
    limit still stands)."""
    if max_depth is not None:
        check_depth(value, max_depth, InferenceError)
    kwargs.setdefault("separators", (",", ":"))
    try:
        return json.dumps(value, **kwargs)
    except (TypeError, ValueError, RecursionError) as e:
        raise InferenceError(f"the model's output cannot be sent as JSON: {e}") from None
