"""The in-flight byte budget: frames held by every host's queue and slots count against one total."""

from __future__ import annotations

import asyncio
import concurrent.futures

import numpy as np
import pytest

from runway_bridge.backends import create
from runway_bridge.errors import BackendUnavailable
from runway_bridge.host import Host, HostState
from runway_bridge.inflight import Budget, frame_bytes
from runway_bridge.types import Blob

from conftest import FIXTURE_ADAPTERS, data_uri, http, png

MIB = 1024 * 1024


def noise_uri(mib: float, seed: int = 0) -> str:
    """A PNG of noise (incompressible) as a data URI of about `mib` MiB."""
    side = int((mib * MIB * 0.75 / 3) ** 0.5)  # base64 makes 4 characters of 3 bytes
    rgb = np.random.default_rng(seed).integers(0, 256, (side, side, 3), np.uint8)
    return data_uri(png(rgb), "image/png")


def test_frame_bytes_counts_images_strings_and_arrays():
    blob = Blob("jpeg", b"\xff" * 50_000)
    assert 50_000 <= frame_bytes({"image": blob}) < 50_200
    assert 1_000_000 <= frame_bytes({"text": "x" * 1_000_000}) < 1_000_200
    assert 8 * 10_000 <= frame_bytes({"v": np.zeros(10_000)}) < 8 * 10_000 + 300
    deep = [0]
    for _ in range(100_000):  # walked iteratively, with a node cap: no recursion, bounded time
        deep = [deep]
    assert frame_bytes({"deep": deep}) > 0


async def _host(name: str, budget: Budget) -> Host:
    host = Host(name, create("local", FIXTURE_ADAPTERS / "kitchen_sink"), budget=budget)
    await host.start({})
    assert host.state is HostState.RUNNING, host.error
    return host


async def test_concurrent_large_frames_across_two_hosts_share_one_budget():
    budget = Budget(8 * MIB)
    a, b = await _host("a", budget), await _host("b", budget)
    image = noise_uri(3)
    assert 3 * MIB < len(image) < 4 * MIB
    calls = [asyncio.ensure_future(h.call("slow_invert", {"image": image, "delay": 0.5})) for h in (a, b, a, b, a, b)]
    got = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 60)
    refused = [g for g in got if isinstance(g, BackendUnavailable)]
    assert len(refused) == 4 and all(g.retry_after and "--max-inflight" in g.message for g in refused), got
    assert sum(1 for g in got if not isinstance(g, Exception)) == 2
    assert budget.used == 0 and budget.refused == 4
    # a stream's slot holds one frame: a newer one replaces it at no extra cost; closing frees it
    s = a.open_stream("slow_invert", lambda r: None)
    busy = asyncio.ensure_future(a.call("slow_invert", {"image": image, "delay": 1}))
    await asyncio.sleep(0.2)  # the call is in the backend now; the stream's frame waits in its slot
    s.submit({"image": image, "delay": 0})
    s.submit({"image": image, "delay": 0})
    assert s.dropped == 1 and 2 * len(image) <= budget.used < 2 * len(image) + 4096
    with pytest.raises(BackendUnavailable):
        b.open_stream("slow_invert", lambda r: None).submit({"image": image})
    s.close()
    await busy
    assert budget.used == 0
    assert (await b.call("slow_invert", {"image": image, "delay": 0})).outputs["mean"] > 0
    await a.stop()
    await b.stop()


def test_over_the_budget_http_answers_503_with_retry_after(daemon):
    d = daemon("kitchen_sink", args=["--max-inflight", str(5 * MIB)])
    image = noise_uri(2.2, seed=1)
    url = d.url + "/v1/models/kitchen_sink/commands/slow_invert"
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: http("POST", url, {"image": image, "delay": 3}, timeout=60), range(5)))
    ok = [a for a in answers if a[0] == 200]
    refused = [a for a in answers if a[0] == 503]
    assert len(ok) >= 2 and refused and len(ok) + len(refused) == 5, [a[0] for a in answers]
    for _, headers, body in refused:
        assert headers.get("Retry-After") and "--max-inflight" in body["error"]
    status, _, body = http("POST", url, {"image": image, "delay": 0}, timeout=60)  # all released again
    assert status == 200 and body["mean"] > 0
    metrics = d.get("/metrics")[2].decode()
    assert "runway_bridge_inflight_bytes 0.0" in metrics
    assert f"runway_bridge_inflight_refused {float(len(refused))}" in metrics
