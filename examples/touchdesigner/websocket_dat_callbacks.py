"""WebSocket DAT callbacks for runway-bridge: frames out, results (numbers and images) in.

Paste into the callbacks DAT of a WebSocket DAT whose Network Address is
``ws://127.0.0.1:8000/v1/models/<model>/stream`` (see README.md). Results arrive here:

- text messages: JSON ``{"type": "result", "frame", "outputs", "timings", "dropped", ...}``;
  the numbers go to the Table DAT named by RESULTS_TABLE (one row per output: name, values...).
- binary messages: ``uint32 big-endian header length | JSON header | image bytes``; the image
  goes to the Script TOP named by SCRIPT_TOP (its callbacks are script_top_callbacks.py).

`send_frame()` sends a TOP as JPEG, one frame in flight: call it every frame from an Execute DAT
(``op('websocket1_callbacks').module.send_frame()`` in onFrameStart). The pure functions at the
top (`parse_message`, `frame_message`, `numbers`) use only the standard library and numpy; the
project's tests run them against a real daemon.
"""

import json
import struct

import numpy as np

WEBSOCKET_DAT = "websocket1"  # the WebSocket DAT
SOURCE_TOP = "null1"  # the TOP whose frames are sent (a Video Device In through a Null TOP)
SCRIPT_TOP = "script1"  # where image outputs go
RESULTS_TABLE = "results"  # a Table DAT for numeric outputs (optional: leave it out if unused)
JPEG_QUALITY = 0.8


# -- pure functions (no TouchDesigner objects) ---------------------------------------------------


def parse_message(contents):
    """A binary message to (header dict, {name: {"format", "bytes", "shape"}}).

    ``format`` is jpeg, png or raw; raw parts carry ``shape`` [h, w, c] (row 0 at the top).
    """
    data = bytes(contents)
    if data[:3] == b"\xff\xd8\xff":
        return {}, {"image": {"format": "jpeg", "bytes": data, "shape": None}}
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return {}, {"image": {"format": "png", "bytes": data, "shape": None}}
    (n,) = struct.unpack(">I", data[:4])
    header = json.loads(data[4 : 4 + n].decode("utf-8"))
    parts, offset = {}, 4 + n
    for p in header.get("binary", []):
        parts[p["name"]] = {"format": p["format"], "bytes": data[offset : offset + p["size"]],
                            "shape": p.get("shape")}
        offset += p["size"]
    return header, parts


def raw_array(part):
    """A raw part as a numpy uint8 array (h, w, c), row 0 at the top."""
    arr = np.frombuffer(part["bytes"], dtype=np.uint8).reshape(part["shape"])
    return arr if arr.ndim == 3 else arr[:, :, None]


def frame_message(image_bytes, frame=None, command=None, inputs=None, name="image"):
    """A JPEG/PNG and other inputs as one binary message; a bare image when nothing else is needed."""
    if frame is None and command is None and not inputs and name == "image":
        return bytes(image_bytes)
    fmt = "png" if bytes(image_bytes[:8]) == b"\x89PNG\r\n\x1a\n" else "jpeg"
    header = {"frame": frame, "inputs": inputs or {},
              "binary": [{"name": name, "format": fmt, "size": len(image_bytes)}]}
    if command:
        header["command"] = command
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return struct.pack(">I", len(head)) + head + bytes(image_bytes)


def _flatten(value):
    """A number, boolean or nested list of them as a flat list of floats; None for anything else."""
    if isinstance(value, bool):
        return [1.0 if value else 0.0]
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, list):
        flat = []
        for item in value:
            f = _flatten(item)
            if f is None:
                return None
            flat += f
        return flat
    return None


def numbers(outputs):
    """Numeric outputs as rows [name, v0, v1, ...] (nested lists flattened; text and images skipped)."""
    rows = []
    for name, value in outputs.items():
        flat = _flatten(value)
        if flat is not None:
            rows.append([name] + flat)
    return rows


# -- TouchDesigner callbacks ---------------------------------------------------------------------

_state = {"in_flight": False, "frame": 0}


def send_frame():
    """Send SOURCE_TOP as a JPEG unless the previous frame has not come back yet."""
    ws = op(WEBSOCKET_DAT)  # noqa: F821  (op is TouchDesigner's global)
    if _state["in_flight"]:
        return
    _state["frame"] += 1
    jpeg = op(SOURCE_TOP).saveByteArray(".jpg", quality=JPEG_QUALITY)  # noqa: F821
    ws.sendBinary(frame_message(jpeg, frame=_state["frame"]))
    _state["in_flight"] = True


def onConnect(dat):
    _state["in_flight"] = False
    debug("runway-bridge: connected")  # noqa: F821
    return


def onDisconnect(dat):
    _state["in_flight"] = False
    debug("runway-bridge: disconnected")  # noqa: F821
    return


def onReceiveText(dat, rowIndex, message):
    msg = json.loads(message)
    if msg.get("type") != "partial":
        _state["in_flight"] = False
    if msg.get("type") == "error":
        debug("runway-bridge error: " + str(msg.get("error")))  # noqa: F821
        return
    table = op(RESULTS_TABLE)  # noqa: F821
    if table is not None:
        table.clear()
        table.appendRows(numbers(msg.get("outputs", {})))
    return


def onReceiveBinary(dat, contents):
    header, parts = parse_message(contents)
    _state["in_flight"] = False
    top = op(SCRIPT_TOP)  # noqa: F821
    if parts and top is not None:
        top.store("runway_image", next(iter(parts.values())))
        top.store("runway_header", header)
        top.cook(force=True)
    table = op(RESULTS_TABLE)  # noqa: F821
    if table is not None and header.get("outputs"):
        table.clear()
        table.appendRows(numbers(header["outputs"]))
    return


def onReceivePing(dat, contents):
    dat.sendPong(contents)
    return


def onReceivePong(dat, contents):
    return


def onMonitorMessage(dat, message):
    return
