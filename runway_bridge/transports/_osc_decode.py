"""A bounded OSC 1.0 packet decoder: one pass over the bytes, no recursion, no logging.

python-osc's parser logs a warning per unknown type tag (a 65 KB type-tag string is 65,000 log
lines from one packet) and nests bundles by recursion; and its dispatcher matches address
patterns by regular expression, which a ``/`` plus a hundred ``*`` turns into minutes of
backtracking. The daemon needs none of that: it answers a handful of exact addresses. So this
decoder reads messages and bundles iteratively, with caps on bundle depth and message count, and
raises `ValueError` with a sentence for anything malformed; `osc.py` then looks addresses up in
a dict.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

__all__ = ["Message", "decode_packet", "MAX_BUNDLE_DEPTH", "MAX_MESSAGES"]

MAX_BUNDLE_DEPTH = 8
MAX_MESSAGES = 256
_BUNDLE = b"#bundle\0"
_FIXED = {"i": (">i", 4), "f": (">f", 4), "h": (">q", 8), "d": (">d", 8), "t": (">Q", 8),
          "c": (">i", 4), "r": (">I", 4), "m": (">I", 4)}
_EMPTY = {"T": True, "F": False, "N": None, "I": float("inf")}


class Message(NamedTuple):
    address: str
    args: tuple


def _string(data: bytes, i: int, end: int, what: str) -> tuple[str, int]:
    nul = data.find(b"\0", i, end)
    if nul < 0:
        raise ValueError(f"the {what} has no NUL terminator")
    try:
        text = data[i:nul].decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"the {what} is not UTF-8") from None
    return text, min(end, i + ((nul - i) // 4 + 1) * 4)


def _message(data: bytes, start: int, end: int) -> Message:
    address, i = _string(data, start, end, "address")
    if not address.startswith("/"):
        raise ValueError(f"an OSC address starts with '/', got {address[:40]!r}")
    if i >= end:
        return Message(address, ())  # no type tags: no arguments (old senders)
    tags, i = _string(data, i, end, "type-tag string")
    if not tags.startswith(","):
        raise ValueError("the type-tag string does not start with ','")
    args = []
    for tag in tags[1:]:
        if tag in _FIXED:
            fmt, n = _FIXED[tag]
            if i + n > end:
                raise ValueError(f"the packet ends inside argument {len(args) + 1} ({tag!r})")
            args.append(struct.unpack_from(fmt, data, i)[0])
            i += n
        elif tag in _EMPTY:
            args.append(_EMPTY[tag])
        elif tag in "sS":
            s, i = _string(data, i, end, f"string argument {len(args) + 1}")
            args.append(s)
        elif tag == "b":
            if i + 4 > end:
                raise ValueError(f"the packet ends inside blob argument {len(args) + 1}")
            (n,) = struct.unpack_from(">I", data, i)
            if i + 4 + n > end:
                raise ValueError(f"blob argument {len(args) + 1} says {n} bytes but the packet is shorter")
            args.append(data[i + 4 : i + 4 + n])
            i += 4 + n + (-n % 4)
        else:
            shown = tag if tag.isprintable() else repr(tag)
            raise ValueError(f"unsupported OSC type tag {shown!r} (arrays and extensions are not read here)")
    return Message(address, tuple(args))


def decode_packet(data: bytes) -> list[Message]:
    """Every message of a packet (a message, or bundles of them), in order; `ValueError` if malformed."""
    data = bytes(data)
    out: list[Message] = []
    stack = [(0, len(data), 0)]  # (start, end, bundle depth), processed depth-first in order
    while stack:
        start, end, depth = stack.pop()
        if data.startswith(_BUNDLE, start):
            if depth >= MAX_BUNDLE_DEPTH:
                raise ValueError(f"bundles nest deeper than {MAX_BUNDLE_DEPTH} levels")
            i, elements = start + 16, []
            while i < end:
                if i + 4 > end:
                    raise ValueError("a bundle ends inside an element's size")
                (n,) = struct.unpack_from(">i", data, i)
                if n <= 0 or i + 4 + n > end:
                    raise ValueError(f"a bundle element says {n} bytes but the bundle is shorter")
                elements.append((i + 4, i + 4 + n, depth + 1))
                i += 4 + n
            stack.extend(reversed(elements))
        else:
            if start >= end or data[start:start + 1] != b"/":
                raise ValueError("neither an OSC message (starting with '/') nor a bundle ('#bundle')")
            if len(out) >= MAX_MESSAGES:
                raise ValueError(f"more than {MAX_MESSAGES} messages in one packet")
            out.append(_message(data, start, end))
    return out
