"""Every built-in adapter, end to end through one real daemon: HTTP command and WebSocket stream."""

import asyncio
import json
import subprocess
import sys

import aiohttp
import pytest

from runway_bridge.catalog import Catalog
from runway_bridge.config import BUILTIN_ADAPTERS
from runway_bridge.wire import decode_frame

from conftest import ROOT, Server, data_uri, free_port, jpeg, wait_http

ADAPTERS = sorted(e.id for e in Catalog([BUILTIN_ADAPTERS]))


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("daemon") / "log"
    proc = subprocess.Popen([sys.executable, "-m", "runway_bridge", "serve", "--port", str(port), "--no-osc"],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=ROOT)
    server = Server(proc, port, log=log)
    wait_http(server.url + "/healthz", proc)
    yield server
    server.stop()


def test_the_catalogue_covers_all_three_categories(bridge):
    models = bridge.get("/v1/models")[2]["models"]
    assert {m["category"] for m in models} == {"extract", "transform", "generate"}
    for m in models:
        assert m["license"] and m["publisher"] and isinstance(m["commercial_use"], bool), m
        assert m["speed"], f"{m['id']} has no measured speed in its card"


@pytest.mark.parametrize("model_id", ADAPTERS)
def test_adapter_over_http_and_websocket(bridge, model_id, astronaut):
    status, _, started = bridge.post(f"/v1/models/{model_id}/start?wait=1")
    assert status == 200, started
    try:
        info = bridge.get(f"/v1/models/{model_id}")[2]
        command = info["card"].get("default_command") or info["manifest"]["commands"][0]["name"]
        cmd = next(c for c in info["manifest"]["commands"] if c["name"] == command)
        images = [i["name"] for i in cmd["inputs"] if i["type"] == "image"]
        inputs = {name: data_uri(jpeg(astronaut)) for name in images}
        status, _, out = bridge.post(f"/v1/models/{model_id}/commands/{command}", inputs)
        assert status == 200, out
        assert set(out) == {o["name"] for o in cmd["outputs"]}

        async def stream():
            url = bridge.url.replace("http", "ws") + f"/v1/models/{model_id}/stream?command={command}"
            async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
                if len(images) == 1:
                    await ws.send_bytes(jpeg(astronaut))
                else:
                    await ws.send_str(json.dumps({"frame": 1, "inputs": inputs}))
                msg = await ws.receive(timeout=60)
                if msg.type == aiohttp.WSMsgType.BINARY:
                    header, parts = decode_frame(msg.data)
                    return {**header, "outputs": {**header["outputs"], **parts}}
                return json.loads(msg.data)

        result = asyncio.run(stream())
        assert result["type"] == "result", result
        assert set(result["outputs"]) == {o["name"] for o in cmd["outputs"]}
        assert result["timings"]["model"] > 0
    finally:
        bridge.post(f"/v1/models/{model_id}/stop")
