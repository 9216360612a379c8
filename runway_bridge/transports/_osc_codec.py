"""OSC codecs with no I/O: results flattened to floats, split into datagrams, and the JSON replies.

Every datagram this module returns is at most ``limit`` bytes; docs/protocol-osc.md lists the
addresses. In short, for a result of model M with a numeric output O (number, boolean, vector,
point, box, landmarks, or arrays of them):

- ``/M/O f...``: every number of the output, flattened row-major (a box is x0 y0 x1 y1, a point
  x y, landmarks x0 y0 x1 y1 ...). An empty array sends the address with no arguments.
- For arrays of points, boxes, landmarks or vectors: ``/M/O/count i n`` and, for the first
  `MAX_ITEMS` items, ``/M/O/<i> f...`` (item i alone, e.g. one face's box).
- Labelled landmarks of at most `MAX_NAMED_POINTS` points (pose, hands, face key points) also get
  ``/M/O/<i>/<label> x y`` per point (``/M/O/<label> x y`` for a single, non-array landmarks output).
- A float message that does not fit one datagram goes out instead as ``<address>/part/<k>`` with
  arguments ``i offset, i total, f...``: floats ``offset .. offset+n-1`` of ``total``, the same
  number of floats in every part but the last (always even, so x and y stay together).

Images, text and other non-numeric outputs travel only inside the ``/data`` JSON string, where a
field too big for the datagram is replaced by a note string (``"omitted: ..."``).
"""

from __future__ import annotations

import json
import math
import re
import struct

import numpy as np

from ..types import Blob

__all__ = ["MAX_UDP", "MAX_ITEMS", "MAX_NAMED_POINTS", "osc_string", "message", "float_message", "float_messages",
           "numeric", "result_numbers", "wekinator_floats", "data_message", "json_message", "error_message",
           "address_part", "jsonable", "json_size"]

MAX_UDP = 65507  # the largest UDP payload over IPv4
MAX_ITEMS = 16
MAX_NAMED_POINTS = 64
ITEM_TYPES = frozenset({"image_point", "image_bounding_box", "image_landmarks", "vector", "array"})
_BAD = re.compile(r"[\s\x00#*,/?\[\]{}]")  # NUL too: it would end the OSC string early
_MIME_PREFIX = len("data:image/jpeg;base64,")


def _padded(n: int) -> int:
    """Bytes taken by an OSC string of n bytes: its NUL, padded to a multiple of 4."""
    return (n // 4 + 1) * 4


def osc_string(s: str) -> bytes:
    b = s.encode()
    return b + b"\0" * (4 - len(b) % 4)


def address_part(name) -> str:
    """A model id, output name or label as one OSC address part (no spaces, slashes or wildcards)."""
    return _BAD.sub("_", str(name)) or "_"


def message(address: str, args=()) -> bytes:
    """One OSC message of ints, floats, strings and blobs (bools are sent as floats 1 and 0)."""
    tags, data = [","], []
    for a in args:
        if isinstance(a, (bool, np.bool_, float, np.floating)):
            tags.append("f")
            data.append(struct.pack(">f", float(a)))
        elif isinstance(a, (int, np.integer)):
            tags.append("i")
            data.append(struct.pack(">i", int(a)))
        elif isinstance(a, str):
            tags.append("s")
            data.append(osc_string(a))
        elif isinstance(a, (bytes, bytearray)):
            tags.append("b")
            data.append(struct.pack(">I", len(a)) + bytes(a) + b"\0" * (-len(a) % 4))
        else:
            raise TypeError(f"cannot send {type(a).__name__} over OSC")
    return osc_string(address) + osc_string("".join(tags)) + b"".join(data)


def float_message(address: str, floats: np.ndarray, ints: tuple = ()) -> bytes:
    """``address [i...] f...`` from a float32 array, packed in one go."""
    head = osc_string(address) + osc_string("," + "i" * len(ints) + "f" * len(floats))
    return head + struct.pack(f">{len(ints)}i", *ints) + floats.astype(">f4", copy=False).tobytes()


def _size(addr_bytes: int, n_ints: int, n_floats: int) -> int:
    return _padded(addr_bytes) + _padded(1 + n_ints + n_floats) + 4 * (n_ints + n_floats)


def _capacity(addr_bytes: int, n_ints: int, limit: int) -> int:
    """The most floats a message with this address and ints can carry within limit bytes."""
    n = max(0, (limit - _padded(addr_bytes) - 4 * n_ints - 4) // 5)
    while n > 0 and _size(addr_bytes, n_ints, n) > limit:
        n -= 1
    while _size(addr_bytes, n_ints, n + 1) <= limit:
        n += 1
    return n


def float_messages(address: str, floats: np.ndarray, limit: int) -> list[bytes]:
    """One message, or ``address/part/<k> offset total f...`` parts when it would not fit."""
    total = len(floats)
    if _size(len(address.encode()), 0, total) <= limit:
        return [float_message(address, floats)]
    base = len(address.encode()) + len("/part/")
    parts, chunk = 1, 0
    for _ in range(4):  # the chunk depends on the digits of the last part's number, and back
        chunk = _capacity(base + len(str(parts - 1)), 2, limit)
        chunk -= chunk % 2 if chunk > 1 else 0
        if chunk < 1:
            raise ValueError(f"OSC address {address!r} leaves no room for numbers in {limit} bytes")
        need = math.ceil(total / chunk)
        if need == parts:
            break
        parts = need
    return [float_message(f"{address}/part/{k}", floats[o : o + chunk], (o, total))
            for k, o in enumerate(range(0, total, chunk))]


def numeric(value) -> np.ndarray | None:
    """A value's numbers as a float32 array (its shape kept when regular), or None if not numeric."""
    if value is None or isinstance(value, (str, bytes, Blob, dict)):
        return None
    if isinstance(value, (bool, int, float, np.bool_, np.number)):
        return np.array([value], dtype=np.float32)
    if not isinstance(value, (list, tuple, np.ndarray)):
        return None
    try:
        arr = np.asarray(value)
    except ValueError:  # ragged: items of different lengths
        arr = None
    if arr is not None and arr.dtype.kind in "fiub":
        return arr.astype(np.float32)
    if arr is not None and arr.dtype.kind != "O":
        return None
    parts = [numeric(v) for v in value]
    if any(p is None for p in parts):
        return None
    return np.concatenate([p.ravel() for p in parts]) if parts else np.zeros(0, np.float32)


def _is_item_array(spec: dict | None) -> bool:
    return bool(spec) and spec.get("type") == "array" and (spec.get("itemType") or {}).get("type") in ITEM_TYPES


def _labels(spec: dict | None, points: int) -> list | None:
    labels = (spec or {}).get("labels") if (spec or {}).get("type") == "image_landmarks" else None
    return labels if labels and len(labels) == points and len(labels) <= MAX_NAMED_POINTS else None


def result_numbers(model: str, outputs: dict, specs: dict | None, limit: int) -> list[bytes]:
    """Every numeric output of one result as datagrams of at most `limit` bytes (see module doc)."""
    out: list[bytes] = []
    base = "/" + address_part(model)
    for name, value in outputs.items():
        arr = numeric(value)
        if arr is None:
            continue
        spec = (specs or {}).get(name)
        addr = f"{base}/{address_part(name)}"
        out += float_messages(addr, arr.ravel(), limit)
        if _is_item_array(spec):
            out.append(message(addr + "/count", [len(value)]))
            item_spec = spec["itemType"]
            for i in range(min(len(value), MAX_ITEMS)):
                item = arr[i] if arr.ndim >= 2 else numeric(value[i])
                out += float_messages(f"{addr}/{i}", item.ravel(), limit)
                labels = _labels(item_spec, len(item)) if item.ndim == 2 else None
                for label, point in zip(labels or (), item, strict=False):
                    out.append(float_message(f"{addr}/{i}/{address_part(label)}", point))
        elif arr.ndim == 2:
            for label, point in zip(_labels(spec, len(arr)) or (), arr, strict=False):
                out.append(float_message(f"{addr}/{address_part(label)}", point))
    return out


def wekinator_floats(outputs: dict, specs: dict | None) -> np.ndarray | None:
    """The first numeric output's floats (of its first item, for arrays); None when there are none."""
    for name, value in outputs.items():
        arr = numeric(value)
        if arr is None:
            continue
        if _is_item_array((specs or {}).get(name)) or (not specs and arr.ndim >= 2):
            if not len(value):
                return None
            arr = arr[0] if arr.ndim >= 2 else numeric(value[0])
        return arr.ravel() if arr.size else None
    return None


def jsonable(value):
    """Outputs with images as data URIs: what ``/data`` carries."""
    if isinstance(value, Blob):
        return value.to_data_uri()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def _field(value, room: int) -> tuple[int, str | None]:
    """A value's JSON size, and its text unless the size alone already rules it out."""
    if isinstance(value, Blob):
        size = len("data:image/png;base64,") + 4 * math.ceil(len(value.data) / 3) + 2
        if size > room:
            return size, None
        text = json.dumps(value.to_data_uri())
        return len(text), text
    arr = numeric(value) if isinstance(value, (list, tuple, np.ndarray)) else None
    if arr is not None and 2 * arr.size > room:  # a digit and a comma per number at least
        return 2 * arr.size, None
    text = json.dumps(jsonable(value), separators=(",", ":"))
    return len(text), text


def json_size(outputs: dict) -> int:
    """A lower bound of the outputs' JSON size, without encoding the images or long arrays."""
    return 2 + sum(len(json.dumps(k)) + 2 + _field(v, 0)[0] for k, v in outputs.items())


def _note(value, limit: int, numbers_at: str | None) -> str:
    arr = None if isinstance(value, Blob) else numeric(value)
    if isinstance(value, Blob):
        what = f"{value.format} image of {len(value.data)} bytes"
    else:
        what = f"{arr.size} numbers" if arr is not None else "value"
    where = f"; its numbers are at {numbers_at}" if numbers_at and arr is not None else ""
    return json.dumps(f"omitted: {what} too big for one {limit}-byte OSC datagram{where}; use HTTP or WebSocket")


def json_message(address: str, text: str) -> bytes:
    return osc_string(address) + osc_string(",s") + osc_string(text)


def data_message(address: str, outputs: dict, limit: int, model: str | None = None) -> tuple[bytes, list[str]]:
    """``/data`` with the outputs as one JSON string that fits; returns it and the omitted names.

    Outputs too big for the datagram (images first, then the largest) become note strings.
    """
    # after the address and the ",s" tag, a string of n bytes takes _padded(n): its NUL and padding
    room = 4 * ((limit - _padded(len(address.encode())) - 4) // 4) - 1
    keys = {k: json.dumps(k) for k in outputs}
    fields = {k: _field(v, room) for k, v in outputs.items()}
    notes: dict[str, str] = {}
    order = sorted(outputs, key=lambda k: (not isinstance(outputs[k], Blob), -fields[k][0]))

    def text() -> str:
        return "{" + ",".join(f"{keys[k]}:{notes[k] if k in notes else fields[k][1]}" for k in outputs) + "}"

    def size() -> int:
        return 1 + sum(len(keys[k]) + 2 + (len(notes[k]) if k in notes else fields[k][0]) for k in outputs)

    for k in order:
        if size() <= room and (k in notes or fields[k][1] is not None):
            continue
        if size() > room or fields[k][1] is None:
            notes[k] = _note(outputs[k], limit, f"/{address_part(model)}/{address_part(k)}" if model else None)
    body = text()
    if len(body.encode()) > room:  # even the notes do not fit (hundreds of outputs): the bare minimum
        notes = {k: '"omitted"' for k in outputs}
        body = text() if size() <= room else "{}"
    return json_message(address, body), list(notes)


def error_message(address: str, text: str, status: int, limit: int) -> bytes:
    """``/error`` with ``{"error": text, "status": n}``, the text shortened to fit."""
    room = limit - _padded(len(address.encode())) - 8
    body = json.dumps({"error": text, "status": status})
    while len(body.encode()) > room and text:
        text = text[: max(0, len(text) - max(8, len(body.encode()) - room))]
        body = json.dumps({"error": text + "...", "status": status})
    return json_message(address, body)
