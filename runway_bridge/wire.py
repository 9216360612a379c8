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
from .errors import BadInput, InferenceError
from .types import Blob

__all__ = ["outputs_to_json", "outputs_json", "encode_frame", "decode_frame", "is_bare_image", "result_message"]

_JPEG, _PNG = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"
MAX_HEADER = 64 * 1024
MAX_PARTS = 64
_OUT_DEPTH = 2 * jsonsafe.MAX_DEPTH  # a result wraps a client's (bounded) JSON in a few levels


def outputs_to_json(value):
    """Replace every `Blob` in an outputs structure with its data URI."""
    if isinstance(value, Blob):
        return value.to_data_uri()
    if isinstance(value, dict):
        return {k: outputs_to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [outputs_to_json(v) for v in value]
    return value


def outputs_json(value, *, checked: bool = False) -> bytes:
    """``jsonsafe.dumps(outputs_to_json(value)).encode()``, byte for byte, but each top-level
    image goes in as its data URI's bytes: base64 is ASCII that JSON never escapes, so running
    60 KB of it through the JSON encoder (and a str, then bytes) per frame bought nothing. Nested
    images become data URIs inside the encoder. `checked`: the host has bounded the depth."""
    if not checked:
        jsonsafe.check_depth(value, jsonsafe.MAX_DEPTH, InferenceError)
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value) \
            or not any(isinstance(v, Blob) for v in value.values()):
        return jsonsafe.dumps(value, max_depth=None, default=_blob_uri).encode()
    parts = [b"{"]
    for k, v in value.items():
        if len(parts) > 1:
            parts.append(b",")
        parts.append(jsonsafe.dumps(k).encode() + b":")
        if isinstance(v, Blob):
            parts += (b'"', v.to_data_uri_bytes(), b'"')
        else:
            parts.append(jsonsafe.dumps(v, max_depth=None, default=_blob_uri).encode())
    parts.append(b"}")
    return b"".join(parts)


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
    head = jsonsafe.dumps(header, max_depth=_OUT_DEPTH + 2, default=_blob_uri).encode()
    return b"".join([struct.pack(">I", len(head)), head, *(b.data for _, b in parts)])


def decode_frame(data: bytes) -> tuple[dict, dict]:
    """One binary message to its header and its inputs (binary parts become `Blob`s).

    Anything malformed raises `BadInput` naming the field: the header is parsed by `jsonsafe`
    (depth, integer size, UTF-8), every part entry is type-checked, and the sizes must add up to
    the message exactly, so a wrong size is an error here, not a confusing one in the model.
    """
    fmt = is_bare_image(data)
    if fmt:
        return {}, {"image": Blob(fmt, bytes(data))}
    if len(data) < 4:
        raise BadInput("binary message too short: expected a 4-byte header length, or a bare JPEG/PNG")
    (n,) = struct.unpack(">I", data[:4])
    if n > MAX_HEADER or 4 + n > len(data):
        raise BadInput(f"binary header length {n} does not fit the {len(data)}-byte message (truncated?)"
                       + (f"; headers are at most {MAX_HEADER} bytes" if n > MAX_HEADER else ""))
    try:
        header = jsonsafe.loads(data[4 : 4 + n])
    except BadInput as e:
        raise BadInput(f"binary header is not JSON: {e.message.removeprefix('the body is not valid JSON: ')}") from None
    if not isinstance(header, dict):
        raise BadInput("binary header must be a JSON object")
    inputs = header.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise BadInput("header 'inputs' must be an object")
    binary = header.get("binary") or []
    if not isinstance(binary, list) or len(binary) > MAX_PARTS:
        raise BadInput(f"header 'binary' must be a list of at most {MAX_PARTS} parts")
    offset = 4 + n
    for part in binary:
        name, fmt, size, shape = _part(part)
        if name in inputs:
            raise BadInput(f"binary part {name!r} is listed twice (or is also in 'inputs')")
        if offset + size > len(data):
            raise BadInput(f"binary part {name!r} says {size} bytes but the message is shorter (truncated?)")
        if fmt == "raw" and (shape is None or math.prod(shape) != size):
            raise BadInput(f"raw part {name!r} needs a shape [h, w] or [h, w, c] matching its {size} bytes")
        inputs[name] = Blob(fmt, bytes(data[offset : offset + size]), shape if fmt == "raw" else None)
        offset += size
    if offset != len(data):
        raise BadInput(f"{len(data) - offset} bytes follow the parts the header lists; check each part's 'size'")
    return header, inputs


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _part(part) -> tuple[str, str, int, tuple | None]:
    """One entry of a header's 'binary' list, checked: (name, format, size, shape or None)."""
    if not isinstance(part, dict):
        raise BadInput("each 'binary' entry must be an object with name, format and size")
    name, fmt, size, shape = part.get("name"), part.get("format"), part.get("size"), part.get("shape")
    if not isinstance(name, str) or not name or len(name) > 256:
        raise BadInput("each 'binary' entry needs a 'name': a string of 1 to 256 characters")
    if fmt not in ("jpeg", "png", "raw"):
        raise BadInput(f"binary part {name!r}: format must be jpeg, png or raw, not {str(fmt)[:40]!r}")
    if not _is_count(size):
        raise BadInput(f"binary part {name!r}: 'size' must be a whole number of bytes, not {str(size)[:40]!r}")
    if shape is not None:
        if (not isinstance(shape, list) or len(shape) not in (2, 3) or not all(_is_count(d) and d > 0 for d in shape)
                or (len(shape) == 3 and shape[2] not in (1, 3, 4))):
            raise BadInput(f"binary part {name!r}: 'shape' must be [h, w] or [h, w, c] (c 1, 3 or 4) "
                           f"of positive whole numbers")
        shape = tuple(shape)
    return name, fmt, size, shape


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
        return jsonsafe.dumps(head, max_depth=_OUT_DEPTH + 2), None
    outputs = result.outputs or {}
    if not getattr(result, "checked", False):  # the host checks every result it makes
        jsonsafe.check_depth(outputs, _OUT_DEPTH, InferenceError)
    parts = [(k, v) for k, v in outputs.items() if isinstance(v, Blob)] if binary else []
    head["outputs"] = {k: v for k, v in outputs.items() if not any(k == n for n, _ in parts)} if parts else outputs
    if parts:
        return None, encode_frame(head, parts)
    # nested images become data URIs as the encoder meets them: no walk of 478 landmarks first
    return jsonsafe.dumps(head, max_depth=None, default=_blob_uri), None


def _blob_uri(value):
    if isinstance(value, Blob):
        return value.to_data_uri()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
