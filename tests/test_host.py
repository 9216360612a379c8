"""The host's isolation: nothing a client sends, and no broken callback, silently kills a model.

Each regression here hung or killed the scheduler on the main branch before the fix: a deep frame
id, a deep output, a raising delivery callback, a scheduler that died with the model still saying
RUNNING, and unknown command names that each added Prometheus series.
"""

from __future__ import annotations

import asyncio
import json
import math

import aiohttp
import pytest

from runway_bridge import host as host_module
from runway_bridge.backends import create
from runway_bridge.errors import BadInput, BridgeError, NotFound
from runway_bridge.host import Host, HostState
from runway_bridge.wire import decode_frame

from conftest import FIXTURE_ADAPTERS, data_uri, jpeg


def nested(depth: int):
    value = 0
    for _ in range(depth):
        value = [value]
    return value


async def started(model: str = "deep_output", **kwargs) -> Host:
    host = Host(model, create("local", FIXTURE_ADAPTERS / model), **kwargs)
    await host.start({})
    assert host.state is HostState.RUNNING, host.error
    return host


# -- in process: the host with a real local backend ------------------------------------------------


@pytest.mark.parametrize("frame", [None, 0, -3, 2**62, 1.5, "f1", "x" * 128])
def test_short_strings_and_finite_numbers_are_frame_ids(frame):
    host_module.check_frame_id(frame)


@pytest.mark.parametrize("frame", [nested(500), [1], {"a": 1}, "x" * 129, math.inf, math.nan, 2**64, True, b"x"])
def test_anything_else_is_refused_as_a_frame_id(frame):
    with pytest.raises(BadInput, match="frame id"):
        host_module.check_frame_id(frame)


async def test_a_raising_subscriber_is_dropped_and_the_others_are_served():
    host = await started()
    got: list = []

    def broken(result):
        raise RuntimeError("listener bug")

    host.subscribe(broken)
    host.subscribe(got.append)
    stream_got: list = []

    def bad_deliver(result):
        stream_got.append(result)
        if result.error is None:
            raise RuntimeError("deliver bug")

    s = host.open_stream(None, bad_deliver)
    s.submit({"depth": 2}, frame_id="a")
    for _ in range(200):  # the stream's frame first (round robin may pick either first)
        if len(stream_got) >= 2:
            break
        await asyncio.sleep(0.05)
    r = await asyncio.wait_for(host.call(None, {"depth": 3}), 10)
    assert r.outputs == {"value": [[[0]]]}
    assert broken not in host.subscribers and len(got) == 2
    # the stream whose callback raised got an error result instead, and the model serves on
    assert [x.error is None for x in stream_got] == [True, False]
    assert "could not be delivered: RuntimeError: deliver bug" in stream_got[1].error.message
    assert host.state is HostState.RUNNING and host.status()["state"] == "RUNNING"
    await host.stop()


async def test_deep_output_is_an_inference_error_for_its_caller_and_the_model_serves_on():
    host = await started()
    with pytest.raises(BridgeError, match="nests deeper than 64 levels") as e:
        await asyncio.wait_for(host.call(None, {"depth": 600}), 10)
    assert e.value.status == 500
    assert (await asyncio.wait_for(host.call(None, {"depth": 1}), 10)).outputs == {"value": [0]}
    await host.stop()


async def test_a_dead_scheduler_fails_the_model_and_its_waiting_callers():
    class BrokenMetrics:
        def __getattr__(self, name):
            def f(*a, **k):
                if name == "observe":
                    raise RuntimeError("metrics bug")
            return f

    host = await started(metrics=BrokenMetrics())
    first = asyncio.ensure_future(host.call(None, {"depth": 1}))
    second = asyncio.ensure_future(host.call(None, {"depth": 2}))
    for call in (first, second):
        with pytest.raises(BridgeError, match="scheduler died .RuntimeError: metrics bug"):
            await asyncio.wait_for(call, 10)
    status = host.status()
    assert status["state"] == "FAILED" and "scheduler died" in status["error"]
    with pytest.raises(BridgeError, match="failed"):
        await host.call(None, {"depth": 1})
    await host.stop()


async def test_unknown_and_malformed_command_names_are_refused_at_the_entry():
    host = await started()
    with pytest.raises(NotFound, match=r"unknown command 'nope'; deep_output has \['nest'\]"):
        await host.call("nope", {})
    s = host.open_stream(None, lambda r: None)
    with pytest.raises(BadInput, match="command name must be a string"):
        s.submit({}, command=["a", "list"])
    with pytest.raises(BadInput, match="frame id"):
        s.submit({}, frame_id=nested(500))
    assert s.pending is None and s.received == 0
    await host.stop()


# -- the daemon, with real clients -----------------------------------------------------------------


async def _ws_roundtrips(url: str, messages: list[dict]) -> list[dict]:
    out = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        for m in messages:
            await ws.send_str(json.dumps(m))
            msg = await asyncio.wait_for(ws.receive(), 15)
            out.append(decode_frame(msg.data)[0] if msg.type == aiohttp.WSMsgType.BINARY else json.loads(msg.data))
    return out


def test_deep_output_over_a_websocket_stream_is_an_error_and_the_model_serves_on(daemon):
    d = daemon("deep_output", "identity", args=["--backend", "identity=local"])
    url = d.url.replace("http", "ws") + "/v1/models/deep_output/stream"
    replies = asyncio.run(_ws_roundtrips(url, [{"frame": 1, "inputs": {"depth": 3000}},
                                               {"frame": 2, "inputs": {"depth": 2}}]))
    assert replies[0]["type"] == "error" and "nests deeper than 64" in replies[0]["error"], replies
    assert replies[1]["type"] == "result" and replies[1]["outputs"] == {"value": [[0]]}
    status, _, body = d.post("/v1/models/deep_output/commands/nest", {"depth": 3000}, timeout=15)
    assert status == 500 and "nests deeper than 64" in body["error"] and "Traceback" not in json.dumps(body)
    status, _, body = d.post("/v1/models/deep_output/commands/nest", {"depth": 1}, timeout=15)
    assert status == 200 and body == {"value": [0]}
    assert d.get("/readyz")[0] == 200


def test_deep_frame_id_over_a_stream_is_bad_input_and_the_model_serves_on(daemon, astronaut):
    d = daemon("identity", args=["--backend", "identity=local"])
    url = d.url.replace("http", "ws") + "/v1/models/identity/stream"
    image = data_uri(jpeg(astronaut[:64, :64]))
    replies = asyncio.run(_ws_roundtrips(url, [{"frame": nested(500), "inputs": {"image": image}},
                                               {"frame": "ok", "inputs": {"image": image}}]))
    # refused at the WebSocket's bounded JSON decoder (or, past it, at the host's frame id check)
    err = replies[0]["error"]
    assert replies[0]["type"] == "error" and replies[0]["status"] == 400 and ("frame id" in err or "nests deeper" in err)
    assert replies[1]["type"] == "result" and replies[1]["frame"] == "ok"
    status, _, body = d.post("/query", {"image": image}, timeout=15)
    assert status == 200 and "image" in body


def test_unknown_command_names_add_no_metric_series(daemon, astronaut):
    d = daemon("identity", args=["--backend", "identity=local"])
    url = d.url.replace("http", "ws") + "/v1/models/identity/stream"
    image = data_uri(jpeg(astronaut[:32, :32]))
    names = [f"bogus_{i}" for i in range(200)]
    replies = asyncio.run(_ws_roundtrips(url, [{"frame": n, "command": n, "inputs": {"image": image}} for n in names]
                                         + [{"frame": "good", "inputs": {"image": image}}]))
    assert all(r["type"] == "error" and r["status"] == 404 and "no command" in r["error"] for r in replies[:-1]), replies[0]
    assert replies[-1]["type"] == "result"
    metrics = d.get("/metrics")[2].decode()
    assert "bogus_" not in metrics
    assert 'runway_bridge_requests_total{command="identity",model="identity",status="ok"} 1.0' in metrics
