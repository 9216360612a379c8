"""Dynamic batching end to end: an imported ONNX conv model with a dynamic batch axis, a real daemon,
8 WebSocket streams at once. Every result must reach the stream and frame it belongs to (its
numbers are those of that frame's own pixels), in order per stream, and batches must really form."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import numpy as np
import onnxruntime as ort
import pytest
from onnx_models import conv_model

from runway_bridge.onnx_import import import_onnx
from runway_bridge.types import Blob
from runway_bridge.wire import encode_frame

from conftest import launch_daemon, ws_message

STREAMS, FRAMES, SIZE = 8, 12, 32


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The adapter folder and a CPU session on the same file, for the expected answers."""
    tmp = tmp_path_factory.mktemp("batching")
    onnx_file = conv_model(tmp / "conv.onnx", size=(SIZE, SIZE), hidden=8)
    folder = import_onnx(onnx_file, tmp / "adapters", name="conv", device="cpu")
    # A generous wait, so batches form however the streams interleave: this test is about where
    # results go, not about speed (benchmarks/bench_batching.py measures that).
    (folder / "model.toml").write_text((folder / "model.toml").read_text().replace(
        "max_size = 8", "max_size = 8\nwait_ms = 30"))
    return folder, ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])


def _image(stream: int, frame: int) -> np.ndarray:
    """A picture of its own for every (stream, frame): a flat level plus noise."""
    rng = np.random.default_rng(1000 * stream + frame)
    level = 20 + 25 * stream + 3 * frame
    return np.clip(level + rng.integers(-15, 16, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)


def _expect(session, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = (img.astype(np.float32) / 255).transpose(2, 0, 1)[None]
    out, mean = session.run(["out", "mean"], {"image": x})
    return np.clip(np.round(out[0].transpose(1, 2, 0) * 255), 0, 255), mean[0]


def _message(stream: int, frame: int, corrupt: bool = False) -> bytes:
    fid = f"s{stream}-f{frame}"
    if corrupt:  # says JPEG, is not: this frame alone must fail
        return encode_frame({"frame": fid}, [("image", Blob("jpeg", b"\xff\xd8\xff" + b"\0" * 64))])
    img = _image(stream, frame)
    return encode_frame({"frame": fid}, [("image", Blob("raw", img.tobytes(), img.shape))])


async def _lockstep(url: str, stream: int, corrupt_at: int | None) -> list[dict]:
    """One frame in flight: send, wait for its answer, send the next. No frame may be dropped."""
    out = []
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        for k in range(FRAMES):
            await ws.send_bytes(_message(stream, k, corrupt=k == corrupt_at))
            out.append(ws_message(await ws.receive(timeout=30)))
    return out


async def _burst(url: str, stream: int) -> list[dict]:
    """Every frame at once: older ones may be dropped (latest frame wins), the last must answer."""
    out = []
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        for k in range(FRAMES):
            await ws.send_bytes(_message(stream, k))
        while not out or out[-1].get("frame") != f"s{stream}-f{FRAMES - 1}":
            out.append(ws_message(await ws.receive(timeout=30)))
    return out


def _check(session, stream: int, results: list[dict], *, every: bool, corrupt_at: int | None = None) -> list[int]:
    """Each result is its own frame's, in the order sent; returns the frames answered."""
    frames = []
    for r in results:
        sid, k = map(int, re.fullmatch(r"s(\d+)-f(\d+)", r["frame"]).groups())
        assert sid == stream, f"stream {stream} got stream {sid}'s frame {r['frame']}"
        if k == corrupt_at:
            assert r["type"] == "error" and r["status"] == 400 and "image" in r["error"], r
        else:
            assert r["type"] == "result", r
            out, mean = _expect(session, _image(stream, k))
            np.testing.assert_allclose(r["outputs"]["mean"], mean, rtol=1e-4, atol=1e-5,
                                       err_msg=f"stream {stream} frame {k}: another frame's numbers")
            part = r["parts"]["out"]
            pixels = np.frombuffer(part.data, np.uint8).reshape(part.shape)
            assert np.abs(pixels.astype(int) - out).max() <= 1, f"stream {stream} frame {k}: another frame's pixels"
        frames.append(k)
    assert frames == sorted(set(frames)), f"stream {stream}: results out of order or repeated: {frames}"
    if every:
        assert frames == list(range(FRAMES)), f"stream {stream} lost frames: {frames}"
    return frames


def _batch_sizes(results: list[dict], metrics: str) -> list[float]:
    """The batch sizes the daemon reports: the results' ``timings.batch`` and, when /metrics has
    it, the mean of the ``runway_bridge_batch_size`` histogram (sum / count)."""
    sizes = [r["timings"]["batch"] for r in results if "batch" in r.get("timings", {})]
    total = re.findall(r'^runway_bridge_batch_size_sum\{[^}]*model="conv"[^}]*\} (\S+)', metrics, re.M)
    count = re.findall(r'^runway_bridge_batch_size_count\{[^}]*model="conv"[^}]*\} (\S+)', metrics, re.M)
    if total and count and float(count[0]):
        sizes.append(float(total[0]) / float(count[0]))
    return sizes


@pytest.mark.parametrize("backend,replicas", [("local", 1), ("process", 1), ("local", 2)])
def test_eight_streams_get_their_own_results_in_batches(served, tmp_path, backend, replicas):
    folder, session = served
    d = launch_daemon(tmp_path, "conv", fixtures=False,
                      args=["--adapters", str(folder.parent), "--backend", f"conv={backend}",
                            "--replicas", f"conv={replicas}"])
    try:
        manifest = d.get("/v1/models/conv")[2]
        assert [c.get("batch") for c in manifest["manifest"]["commands"]] == [8], manifest
        url = d.url.replace("http", "ws") + "/v1/models/conv/stream?format=raw"

        async def go():
            lock = await asyncio.gather(*(_lockstep(url, i, 5 if i == 3 else None) for i in range(STREAMS)))
            burst = await asyncio.gather(*(_burst(url, i) for i in range(STREAMS)))
            return lock, burst

        lock, burst = asyncio.run(go())
        for i, results in enumerate(lock):
            _check(session, i, results, every=True, corrupt_at=5 if i == 3 else None)
        for i, results in enumerate(burst):
            assert _check(session, i, results, every=False)[-1] == FRAMES - 1
        sizes = _batch_sizes([r for rs in lock + burst for r in rs], d.get("/metrics")[2].decode())
        assert sizes, "the daemon reports no batch sizes (results' timings 'batch', /metrics runway_bridge_batch_size)"
        assert max(sizes) > 1, f"8 streams on a batching command never formed a batch: {sorted(set(sizes))}"
        assert max(sizes) <= 8
    finally:
        d.stop()


def test_streams_of_different_sizes_share_a_dynamic_size_model(tmp_path):
    """Height and width dynamic too: frames keep their size, a batch runs one call per size, and
    each stream still gets its own pixels back at its own size."""
    onnx_file = conv_model(tmp_path / "any.onnx", size=None)
    folder = import_onnx(onnx_file, tmp_path / "adapters", name="anysize", device="cpu")
    (folder / "model.toml").write_text((folder / "model.toml").read_text() + "wait_ms = 30\n")
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    sizes = [(24, 16), (40, 32), (24, 16), (40, 32)]  # (width, height) per stream
    d = launch_daemon(tmp_path, "anysize", fixtures=False, args=["--adapters", str(folder.parent)])
    try:
        url = d.url.replace("http", "ws") + "/v1/models/anysize/stream?format=raw"

        async def one(i):
            out = []
            w, h = sizes[i]
            async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
                for k in range(4):
                    img = np.random.default_rng(10 * i + k).integers(0, 256, (h, w, 3), np.uint8)
                    await ws.send_bytes(encode_frame({"frame": k}, [("image", Blob("raw", img.tobytes(), img.shape))]))
                    out.append((img, ws_message(await ws.receive(timeout=30))))
            return out

        async def go():
            return await asyncio.gather(*(one(i) for i in range(len(sizes))))

        batches = []
        for i, results in enumerate(asyncio.run(go())):
            for k, (img, r) in enumerate(results):
                assert r["type"] == "result" and r["frame"] == k, r
                out, mean = _expect(session, img)
                np.testing.assert_allclose(r["outputs"]["mean"], mean, rtol=1e-4, atol=1e-5)
                part = r["parts"]["out"]
                assert tuple(part.shape) == img.shape, f"stream {i} got a {part.shape} image for its {img.shape}"
                assert np.abs(np.frombuffer(part.data, np.uint8).reshape(part.shape).astype(int) - out).max() <= 1
                batches.append(r["timings"].get("batch", 1))
        assert max(batches) > 1, "four streams never shared a batch"
    finally:
        d.stop()
