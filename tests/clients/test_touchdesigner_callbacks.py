"""The TouchDesigner callback files: their pure functions against real daemon output.

TouchDesigner cannot run here, so the callbacks that touch TD objects (op(), sendBinary,
loadByteArray) are not exercised; the parsing and framing they rely on are, byte for byte: the
messages `frame_message` builds are what the WebSocket DAT sends, and `parse_message`, `numbers`,
`raw_array` and `td_array` read what the daemon answers.
"""

from __future__ import annotations

import importlib.util
import json

import aiohttp
import cv2
import numpy as np

from conftest import ROOT, jpeg

TD = ROOT / "examples" / "touchdesigner"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"td_{name}", TD / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # imports with no TouchDesigner around: only json, struct, numpy
    return mod


ws_cb = load("websocket_dat_callbacks")
top_cb = load("script_top_callbacks")


def bgr_decode(data: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


async def exchange(url: str, message: bytes):
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        await ws.send_bytes(message)
        msg = await ws.receive(timeout=20)
        return msg


async def test_frames_out_images_in(daemon, astronaut):
    d = daemon("kitchen_sink")
    ws_url = d.url.replace("http", "ws") + "/v1/models/kitchen_sink/stream"
    sent = jpeg(astronaut, 80)  # what saveByteArray('.jpg') gives: a JPEG file's bytes

    # a framed message with a frame id (send_frame) comes back framed, with the inverted image
    msg = await exchange(ws_url, ws_cb.frame_message(sent, frame=7))
    assert msg.type == aiohttp.WSMsgType.BINARY
    header, parts = ws_cb.parse_message(bytearray(msg.data))  # TD hands callbacks a bytearray
    assert header["frame"] == 7 and header["type"] == "result" and header["command"] == "invert"
    assert set(parts) == {"image"} and parts["image"]["format"] == "jpeg"
    got = bgr_decode(parts["image"]["bytes"])  # loadByteArray('.jpg', ...) in the Script TOP
    assert np.abs(got.astype(int) - (255 - bgr_decode(sent).astype(int))).mean() < 3

    # the simplest client: a bare JPEG, no header
    assert ws_cb.frame_message(sent) == sent
    header, parts = ws_cb.parse_message((await exchange(ws_url, sent)).data)
    assert header["frame"] is None and parts["image"]["format"] == "jpeg"

    # ?format=raw: pixels without a codec; td_array flips them for copyNumpyArray
    header, parts = ws_cb.parse_message((await exchange(ws_url + "?format=raw", sent)).data)
    part = parts["image"]
    assert part["format"] == "raw" and part["shape"] == [512, 512, 3]
    pixels = ws_cb.raw_array(part)
    np.testing.assert_array_equal(pixels, 255 - bgr_decode(sent))  # exact: same decoder both sides
    td = top_cb.td_array(part)
    assert td.dtype == np.uint8 and td.flags["C_CONTIGUOUS"] and td.shape == (512, 512, 3)
    np.testing.assert_array_equal(td[0], pixels[-1])  # TouchDesigner's row 0 is the bottom one

    # other inputs and a command ride in the header; number outputs come in the header's outputs
    msg = ws_cb.frame_message(sent, frame=8, command="slow_invert", inputs={"delay": 0})
    header, parts = ws_cb.parse_message((await exchange(ws_url, msg)).data)
    assert header["frame"] == 8 and header["command"] == "slow_invert"
    rows = ws_cb.numbers(header["outputs"])
    assert [r[0] for r in rows] == ["mean"] and abs(rows[0][1] - bgr_decode(sent).mean()) < 1e-3
    assert "image" in parts


async def test_text_results_become_table_rows(daemon, astronaut):
    d = daemon("haar_faces")
    ws_url = d.url.replace("http", "ws") + "/v1/models/haar_faces/stream"
    msg = await exchange(ws_url, ws_cb.frame_message(jpeg(astronaut), frame=1))
    assert msg.type == aiohttp.WSMsgType.TEXT  # no image outputs: plain JSON (onReceiveText)
    result = json.loads(msg.data)
    rows = ws_cb.numbers(result["outputs"])
    assert [r[0] for r in rows] == ["boxes", "count"]
    x0, y0, x1, y1 = rows[0][1:]
    assert 0.3 < x0 < x1 < 0.65 and 0.05 < y0 < y1 < 0.45  # the astronaut's face
    assert rows[1] == ["count", 1.0]
    assert ws_cb.numbers({"label": "cat", "flags": [True, False], "mixed": [1, "a"]}) == [["flags", 1.0, 0.0]]
