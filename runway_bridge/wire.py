"""Wire codecs with no I/O: outputs to JSON, and the binary frame format of the fast path.

A binary frame is ``uint32 big-endian header length | JSON header | payloads``. The header lists
each binary part as ``{"name", "format", "size"}`` (raw parts add ``"shape": [h, w, c]``) in the
order the payloads follow. A bare JPEG or PNG message is one image input named ``image``.
docs/protocol.md has a worked example in bytes.
"""

from __future__ import annotations

import math
import struct

from . import jsonsafe
from .errors import BadInput
from .types import Blob

__all__ = ["outputs_to_json", "encode_frame", "decode_frame", "is_bare_image", "result_message"]

_JPEG, _PNG = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"
MAX_HEADER = 64 * 1024


def outputs_to_json(value):
    """Replace every `Blob` in an outputs structure with its data URI."""
    if isinstance(value, Blob):
        return value.to_data_uri()
    if isinstance(value, dict):
        return {k: outputs_to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [outputs_to_json(v) for v in value]
    return value


def is_bare_image(data: bytes) -> str | None:
    if data.startswith(_JPEG):
        return "jpeg"
    if data.startswith(_PNG):
        return "png"
    return None


def encode_frame(header: dict, parts: list[tuple[str, Blob]]) -> bytes:
    """A header and named blobs to one binary message."""
    header = dict(header)
    header["binary"] = [
        {"name": n, "format": b.format, "size": len(b.data), **({"shape": list(b.shape)} if b.shape else {})}
        for n, b in parts
    ]
    head = jsonsafe.dumps(header).encode()
    return b"".join([struct.pack(">I", len(head)), head, *(b.data for _, b in parts)])


def decode_frame(data: bytes) -> tuple[dict, dict]:
    """One binary message to its header and its inputs (binary parts become `Blob`s)."""
    fmt = is_bare_image(data)
    if fmt:
        return {}, {"image": Blob(fmt, bytes(data))}
    if len(data) < 4:
        raise BadInput("binary message too short: expected a 4-byte header length, or a bare JPEG/PNG")
    (n,) = struct.unpack(">I", data[:4])
    if n > MAX_HEADER or 4 + n > len(data):
        raise BadInput(f"binary header length {n} does not fit the {len(data)}-byte message (truncated?)")
    try:
        header = jsonsafe.loads(data[4 : 4 + n])
    except BadInput as e:
        raise BadInput(f"binary header is not JSON: {e.message.removeprefix('the body is not valid JSON: ')}") from None
    if not isinstance(header, dict):
        raise BadInput("binary header must be a JSON object")
    inputs = header.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise BadInput("header 'inputs' must be an object")
    offset = 4 + n
    for part in header.get("binary") or []:
        try:
            name, fmt, size = part["name"], part["format"], int(part["size"])
        except (KeyError, TypeError, ValueError):
            raise BadInput("each 'binary' entry needs name, format and size") from None
        if fmt not in ("jpeg", "png", "raw"):
            raise BadInput(f"binary part {name!r}: format must be jpeg, png or raw, not {fmt!r}")
        if size < 0 or offset + size > len(data):
            raise BadInput(f"binary part {name!r} says {size} bytes but the message is shorter (truncated?)")
        shape = tuple(part["shape"]) if fmt == "raw" and part.get("shape") else None
        if fmt == "raw" and (not shape or len(shape) not in (2, 3) or math.prod(shape) != size):
            raise BadInput(f"raw part {name!r} needs a shape [h, w, c] matching its {size} bytes")
        inputs[name] = Blob(fmt, bytes(data[offset : offset + size]), shape)
        offset += size
    return header, inputs


def result_message(result, *, binary: bool) -> tuple[str | None, bytes | None]:
    """A host `Result` to one WebSocket message: text JSON, or a binary frame when it has images."""
    head = {
        "type": "result" if result.final else "partial",
        "model": result.model,
        "command": result.command,
        "frame": result.frame_id,
        "timings": result.timings,
        "dropped": result.dropped,
    }
    if result.progress is not None:
        head["progress"] = result.progress
    if result.error is not None:
        head["type"] = "error"
        head["error"] = result.error.message
        head["status"] = result.error.status
        if result.error.field:
            head["field"] = result.error.field
        return jsonsafe.dumps(head), None
    outputs = result.outputs or {}
    parts = [(k, v) for k, v in outputs.items() if isinstance(v, Blob)] if binary else []
    head["outputs"] = outputs_to_json({k: v for k, v in outputs.items() if not any(k == n for n, _ in parts)})
    if parts:
        return None, encode_frame(head, parts)
    return jsonsafe.dumps(head), None
