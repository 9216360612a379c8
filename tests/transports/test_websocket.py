"""The WebSocket fast path end to end: binary frames, echoed ids, timings, drops, bad input."""

import asyncio
import json
import statistics
import struct
import time

import aiohttp
import pytest

from runway_bridge.types import Blob
from runway_bridge.wire import encode_frame

from conftest import jpeg, launch_daemon, ws_message


def ws_url(d, path="/v1/models/kitchen_sink/stream", **query):
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return d.url.replace("http", "ws") + path + (f"?{q}" if q else "")


def test_binary_frames_echo_ids_timings_and_images(daemon, astronaut):
    d = daemon("kitchen_sink")
    frame = jpeg(astronaut)

    async def go():
        async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(d, command="slow_invert")) as ws:
            await ws.send_bytes(encode_frame({"frame": 7, "inputs": {"delay": 0}}, [("image", Blob("jpeg", frame))]))
            first = ws_message(await ws.receive(timeout=10))
            await ws.send_bytes(frame)  # a bare JPEG is the single image input
            second = ws_message(await ws.receive(timeout=10))
            raw = astronaut[:32, :48].copy()
            await ws.send_bytes(encode_frame({"frame": "r"}, [("image", Blob("raw", raw.tobytes(), raw.shape))]))
            third = ws_message(await ws.receive(timeout=10))
            return first, second, third

    first, second, third = asyncio.run(go())
    assert first["type"] == "result" and first["frame"] == 7 and first["command"] == "slow_invert"
    assert set(first["timings"]) >= {"queue", "decode", "model", "encode", "total"}
    assert first["dropped"] == 0 and abs(first["outputs"]["mean"] - float(astronaut.mean())) < 2
    img = first["parts"]["image"]
    assert img.format == "jpeg" and img.data[:3] == b"\xff\xd8\xff"
    assert second["frame"] is None and second["parts"]["image"].format == "jpeg"
    assert abs(third["outputs"]["mean"] - float(astronaut[:32, :48].mean())) < 0.01  # raw pixels: exact


def test_text_frames_and_output_format(daemon, astronaut):
    d = daemon("kitchen_sink")

    async def go():
        async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(d, command="echo")) as ws:
            await ws.send_str(json.dumps({"frame": 1, "inputs": {"text": "hi", "vec": [1, 2, 3], "items": [],
                                                               "point": [0, 0], "box": [0, 0, 1, 1],
                                                               "marks": [[0, 0], [1, 1]], "anything": 1}}))
            a = ws_message(await ws.receive(timeout=10))
        async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(d, format="png")) as ws:
            await ws.send_bytes(jpeg(astronaut[:16, :16]))
            b = ws_message(await ws.receive(timeout=10))
        return a, b

    a, b = asyncio.run(go())
    assert a["type"] == "result" and a["outputs"]["text"] == "hi" and a["outputs"]["vec"] == [1.0, 2.0, 3.0]
    assert b["parts"]["image"].format == "png"


def test_malformed_messages_get_errors_and_the_stream_goes_on(daemon, astronaut):
    d = daemon("kitchen_sink")

    async def go():
        out = []
        async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(d)) as ws:
            for bad in (b"\x00\x01", struct.pack(">I", 500) + b'{"frame": 1', struct.pack(">I", 4) + b"nope",
                        encode_frame({"frame": 2}, [("image", Blob("jpeg", b"\xff\xd8\xff" + b"0" * 10))])[:-5],
                        encode_frame({"frame": 3}, [("image", Blob("jpeg", b"garbage!"))])):
                await ws.send_bytes(bad)
                out.append(ws_message(await ws.receive(timeout=10)))
            await ws.send_str("not json")
            out.append(ws_message(await ws.receive(timeout=10)))
            await ws.send_bytes(encode_frame({"frame": 9}, [("image", Blob("jpeg", jpeg(astronaut[:8, :8])))]))
            out.append(ws_message(await ws.receive(timeout=10)))
        return out

    out = asyncio.run(go())
    assert all(m["type"] == "error" and m["status"] == 400 for m in out[:6]), out
    assert "too short" in out[0]["error"] and "truncated" in out[1]["error"]
    assert "not JSON" in out[2]["error"] and "truncated" in out[3]["error"]
    assert out[4]["frame"] == 3 and "not a JPEG or PNG" in out[4]["error"]
    assert out[6]["type"] == "result" and out[6]["frame"] == 9


def test_latest_frame_wins_and_a_slow_client_keeps_its_share(daemon, astronaut):
    """Client A floods at ~10x the model's rate; client B sends in lockstep. Both get served,
    A's latency stays bounded (no queue builds up) and its dropped count rises."""
    d = daemon("kitchen_sink")
    model_s = 0.05
    frame = jpeg(astronaut[:120, :160])

    async def flood(ws, seconds):
        sent = 0
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            await ws.send_bytes(encode_frame({"frame": sent, "inputs": {"delay": model_s}},
                                             [("image", Blob("jpeg", frame))]))
            sent += 1
            await asyncio.sleep(model_s / 10)
        return sent

    async def collect(ws, results, until):
        while time.monotonic() < until:
            try:
                msg = await ws.receive(timeout=max(0.05, until - time.monotonic()))
            except asyncio.TimeoutError:
                break
            if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                break
            results.append(ws_message(msg))

    async def lockstep(ws, results, until):
        n = 0
        while time.monotonic() < until:
            await ws.send_bytes(encode_frame({"frame": n, "inputs": {"delay": model_s}},
                                             [("image", Blob("jpeg", frame))]))
            results.append(ws_message(await ws.receive(timeout=10)))
            n += 1

    async def go():
        a_results, b_results = [], []
        async with aiohttp.ClientSession() as s, \
                s.ws_connect(ws_url(d, command="slow_invert")) as a, \
                s.ws_connect(ws_url(d, command="slow_invert")) as b:
            until = time.monotonic() + 3
            sent, *_ = await asyncio.gather(flood(a, 3), collect(a, a_results, until + 1), lockstep(b, b_results, until))
        return sent, a_results, b_results

    sent, a_results, b_results = asyncio.run(go())
    metrics = d.get("/metrics")[2].decode()
    a_ok = [r for r in a_results if r["type"] == "result"]
    assert sent > 5 * len(a_ok), (sent, len(a_ok))  # most of A's frames were dropped, not queued
    assert a_ok[-1]["dropped"] > a_ok[0]["dropped"] and a_ok[-1]["dropped"] > sent / 2
    latencies = [r["timings"]["total"] for r in a_ok]
    assert statistics.median(latencies) < 4 * model_s * 1000, latencies  # bounded: at most ~2 model runs
    assert max(latencies) < 10 * model_s * 1000
    ids = [r["frame"] for r in a_ok]
    assert ids == sorted(ids)  # newest frames, in order
    # round robin: the lockstep client is served about as often as the flooding one
    assert len(b_results) >= 0.6 * len(a_ok), (len(b_results), len(a_ok))
    assert all(r["type"] == "result" for r in b_results)
    # per-stream counters while the streams were open are gone once they close; the model's stay
    assert 'runway_bridge_stream_frames_total{fate="dropped",model="kitchen_sink"}' in metrics


def test_listeners_receive_results_caused_by_others(daemon, astronaut):
    d = daemon("kitchen_sink")

    async def go():
        async with aiohttp.ClientSession() as s, \
                s.ws_connect(ws_url(d, "/stream", listen=1)) as listener, \
                s.ws_connect(ws_url(d, "/stream")) as sender:
            await sender.send_bytes(encode_frame({"frame": 42}, [("image", Blob("jpeg", jpeg(astronaut[:8, :8])))]))
            own = ws_message(await sender.receive(timeout=10))
            heard = ws_message(await listener.receive(timeout=10))
            async with s.get(d.url + "/metrics") as r:
                open_metrics = await r.text()
            return own, heard, open_metrics

    own, heard, open_metrics = asyncio.run(go())
    # per-stream counters, while the streams are open
    assert 'runway_bridge_stream_frames_now{fate="processed",model="kitchen_sink",stream="' in open_metrics
    assert "runway_bridge_stream_latency_ms{" in open_metrics
    deadline = time.monotonic() + 5  # closed streams vanish (once the server has seen the close)
    while "runway_bridge_stream_frames_now{" in d.get("/metrics")[2].decode():
        assert time.monotonic() < deadline, "closed streams still in /metrics"
        time.sleep(0.05)
    assert own["frame"] == heard["frame"] == 42 and heard["model"] == "kitchen_sink"


def test_stream_to_a_stopped_model_is_refused_clearly(daemon):
    d = daemon("kitchen_sink")

    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.get(d.url + "/v1/models/haar_faces/stream") as r:
                return r.status, await r.json()

    status, body = asyncio.run(go())
    assert status == 409 and "not running" in body["error"]


def _frame(header: dict, tail: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return struct.pack(">I", len(head)) + head + tail


def _raw(head: bytes, tail: bytes = b"") -> bytes:
    return struct.pack(">I", len(head)) + head + tail


def _part(**kw) -> dict:
    return {"name": "image", "format": "jpeg", "size": 1, **kw}


# Each of these made the handler raise after the socket was open, so aiohttp wrote an HTTP 500
# into the WebSocket (the client saw "non-zero reserved bits"), or reached the model as a 500.
# Each must be a 4xx JSON error message on a socket that keeps working.
MALFORMED = {
    "text_nested_5000_deep": ("[" * 5000 + "]" * 5000, "nests deeper"),
    "text_frame_nested_deep": ('{"frame": ' + "[" * 5000 + "]" * 5000 + "}", "nests deeper"),
    "text_5000_digit_integer": ('{"frame": ' + "9" * 5000 + "}", "digits"),
    "text_nan_frame_id": ('{"frame": NaN, "inputs": {}}', "NaN"),
    "text_not_json": ("not json", "not valid JSON"),
    "text_inputs_a_list": ('{"inputs": []}', "as text"),
    "text_command_a_list": ('{"command": [1], "inputs": {}}', "'command'"),
    "text_command_an_object": ('{"command": {}, "inputs": {}}', "'command'"),
    "text_unknown_command": ('{"command": "nope", "inputs": {}}', "no command 'nope'"),
    "text_frame_id_an_object": ('{"frame": {"a": 1}, "inputs": {}}', "'frame'"),
    "text_frame_id_too_long": (json.dumps({"frame": "x" * 300}), "'frame'"),
    "binary_list_an_int": (_frame({"binary": 5}), "'binary'"),
    "binary_list_a_string": (_frame({"binary": "abc"}), "'binary'"),
    "binary_entry_a_string": (_frame({"binary": ["abc"]}), "'binary' entry"),
    "binary_too_many_parts": (_frame({"binary": [_part(name=str(i)) for i in range(65)]}, b"x" * 65), "at most 64"),
    "size_infinite": (_raw(b'{"binary": [{"name": "image", "format": "jpeg", "size": 1e400}]}', b"x"), "'size'"),
    "size_a_float": (_frame({"binary": [_part(size=1.5)]}, b"xx"), "'size'"),
    "size_a_string": (_frame({"binary": [_part(size="2")]}, b"xx"), "'size'"),
    "size_a_bool": (_frame({"binary": [_part(size=True)]}, b"x"), "'size'"),
    "size_negative": (_frame({"binary": [_part(size=-1)]}, b"xx"), "'size'"),
    "size_huge": (_frame({"binary": [_part(size=10**30)]}, b"xx"), "truncated"),
    "size_too_small_trailing_bytes": (_frame({"binary": [_part(size=1)]}, b"xyz"), "2 bytes follow"),
    "name_an_object": (_frame({"binary": [_part(name={})]}, b"x"), "'name'"),
    "name_a_list": (_frame({"binary": [_part(name=[])]}, b"x"), "'name'"),
    "name_twice": (_frame({"binary": [_part(), _part()]}, b"xy"), "twice"),
    "format_unknown": (_frame({"binary": [_part(format="gif")]}, b"x"), "format must be"),
    "format_a_list": (_frame({"binary": [_part(format=[])]}, b"x"), "format must be"),
    "raw_shape_an_int": (_frame({"binary": [_part(format="raw", size=3, shape=3)]}, b"xxx"), "'shape'"),
    "raw_shape_negative": (_frame({"binary": [_part(format="raw", size=3, shape=[-1, -1, 3])]}, b"xxx"), "'shape'"),
    "raw_shape_floats": (_frame({"binary": [_part(format="raw", size=3, shape=[1.5, 2, 1])]}, b"xxx"), "'shape'"),
    "raw_shape_5_channels": (_frame({"binary": [_part(format="raw", size=5, shape=[1, 1, 5])]}, b"x" * 5), "'shape'"),
    "raw_shape_mismatch": (_frame({"binary": [_part(format="raw", size=3, shape=[2, 2, 3])]}, b"xxx"), "matching"),
    "header_nested_deep": (struct.pack(">I", 20000) + b"[" * 10000 + b"]" * 10000, "nests deeper"),
    "header_5000_digit_integer": (_raw(b'{"frame":' + b"1" * 5000 + b"}"), "digits"),
    "header_not_utf8": (struct.pack(">I", 4) + b"\xff\xfe\xfd\xfc", "UTF-8"),
    "header_length_over_the_limit": (struct.pack(">I", 70000) + b"{}" + b" " * 70000, "at most 65536"),
    "header_longer_than_the_message": (struct.pack(">I", 500) + b'{"frame": 1', "truncated"),
}


@pytest.fixture(scope="module")
def sink(tmp_path_factory):
    """One daemon for the parametrised cases (each case gets its own socket)."""
    d = launch_daemon(tmp_path_factory.mktemp("ws"), "kitchen_sink")
    yield d
    d.stop()


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_header_values_get_a_json_error_and_the_socket_lives(sink, astronaut, name):
    d = sink
    data, expect = MALFORMED[name]
    good = encode_frame({"frame": "ok"}, [("image", Blob("jpeg", jpeg(astronaut[:8, :8])))])

    async def go():
        async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(d)) as ws:
            await (ws.send_str(data) if isinstance(data, str) else ws.send_bytes(data))
            bad = await ws.receive(timeout=10)
            await ws.send_bytes(good)
            after = await ws.receive(timeout=10)
            return bad, after

    bad, after = asyncio.run(go())
    assert bad.type == aiohttp.WSMsgType.TEXT, (bad.type, bad.data)
    err = json.loads(bad.data)
    assert err["type"] == "error" and err["status"] == (404 if "no command" in expect else 400), err
    assert expect in err["error"], err
    assert after.type == aiohttp.WSMsgType.BINARY and ws_message(after)["frame"] == "ok"
    assert "Traceback" not in d.output()



def test_an_output_too_deep_for_json_is_an_error_message_and_the_stream_lives(daemon):
    """An `any` output nested 3,000 deep cannot be encoded: the client hears why, once per frame,
    the socket stays open and the next frame is served (nothing dies in result delivery)."""
    d = daemon("deep_output")

    async def go():
        url = d.url.replace("http", "ws") + "/v1/models/deep_output/stream"
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            await ws.send_str(json.dumps({"frame": 1, "inputs": {"depth": 3000}}))
            deep = json.loads((await ws.receive(timeout=10)).data)
            await ws.send_str(json.dumps({"frame": 2, "inputs": {"depth": 3}}))
            shallow = json.loads((await ws.receive(timeout=10)).data)
            return deep, shallow

    deep, shallow = asyncio.run(go())
    assert deep["type"] == "error" and deep["status"] == 500 and deep["frame"] == 1, deep
    assert "nests deeper" in deep["error"]
    assert shallow["type"] == "result" and shallow["outputs"]["value"] == [[[0]]]
    assert d.state("deep_output") == "RUNNING"


def test_a_message_over_max_body_closes_the_socket_with_1009(daemon):
    d = daemon("kitchen_sink", args=["--max-body", "100000"])

    async def go():
        async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(d)) as ws:
            await ws.send_bytes(b"\0" * 200_000)
            msg = await ws.receive(timeout=10)
            return msg.type, ws.close_code

    kind, code = asyncio.run(go())
    assert kind in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING) and code == 1009, (kind, code)
    assert d.state("kitchen_sink") == "RUNNING"
