"""Dynamic batching on a CPU: 8 WebSocket streams into imported ONNX models, batching on vs off.

    .venv/bin/python benchmarks/bench_batching.py [--streams 8] [--rounds 3] [--seconds 3]

Each model is built here with `onnx.helper` (tests/onnx_models.py), imported by `import_onnx`
(dynamic batch axis: a ``batch=8`` command) three times: ``*_on`` as imported, ``*_off`` with the
card's ``[batch] max_size = 1`` and ``*_one`` imported with ``batch=1`` (a plain command, whose
decode and encode overlap inference on the codec pool). One daemon serves all of them; every stream sends 64x64 JPEGs, one frame
in flight (the next when its result arrives), so the rate is what the daemon sustains. Rounds
rotate the order of the modes; the figures are medians over rounds, the ratios measured in this
run, and the target is judged against the faster baseline.

The models, and why: 64x64 frames cost ~0.1 ms each to decode and encode, so the model dominates
the per-frame cost (~1 ms a frame). ``autoencoder`` (two stride-2 convs, a dense 4096 -> 1024 ->
4096 bottleneck, a conv back to 3 channels; 32 MB of dense weights, more than the caches hold) is
the one that must reach 1.5x: at a batch of one its dense layers read every weight from memory for
a matrix-vector product, a batch of 8 reads them once for 8. ``conv`` (four 3x3 convs, 64 channels) shows the other case: ONNX
Runtime's CPU convolutions already fill the cores at a batch of one, so batching them gains
little on a CPU (the "session" line measures that ceiling directly); on a GPU it is the
opposite (benchmarks/gpu/).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
from _common import frame, serve
from onnx_models import autoencoder_model, conv_model

from runway_bridge.onnx_import import import_onnx
from runway_bridge.types import Blob
from runway_bridge.wire import decode_frame, encode_frame

SIZE = 64
MODELS = {"autoencoder": lambda p: autoencoder_model(p, size=SIZE, code=1024),
          "conv": lambda p: conv_model(p, size=(SIZE, SIZE), hidden=64, layers=4)}


MODES = ("on", "off", "one")


def build(folder: Path, models: dict = MODELS, device: str = "cpu") -> dict[str, Path]:
    """Each model's file (``models``: name -> a function writing it to a path), imported under
    ``folder/adapters`` three times: ``<name>_on`` (a batch=8 command), ``<name>_off`` (the same
    with card ``[batch] max_size = 1``) and ``<name>_one`` (``import --batch 1``: a plain command)."""
    files = {}
    for name, make in models.items():
        files[name] = make(folder / f"{name}.onnx")
        import_onnx(files[name], folder / "adapters", name=f"{name}_on", device=device)
        off = import_onnx(files[name], folder / "adapters", name=f"{name}_off", device=device)
        card = off / "model.toml"
        card.write_text(card.read_text().replace("max_size = 8", "max_size = 1"))
        import_onnx(files[name], folder / "adapters", name=f"{name}_one", device=device, batch=1)
    return files


def launch_args(names) -> list[str]:
    return [a for n in names for mode in MODES for a in ("--model", f"{n}_{mode}")]


def session_gain(path: Path, size: int = SIZE, providers=("CPUExecutionProvider",)) -> tuple[float, float]:
    """ONNX Runtime alone: ms per frame at a batch of 1 and of 8 (best of 3), no daemon."""
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=list(providers))
    one, eight = (np.random.default_rng(0).random((n, 3, size, size), np.float32) for n in (1, 8))

    def per_frame(x, reps):
        s.run(None, {"image": x})
        t0 = time.perf_counter()
        for _ in range(reps):
            s.run(None, {"image": x})
        return (time.perf_counter() - t0) * 1000 / reps / len(x)

    return min(per_frame(one, 40) for _ in range(3)), min(per_frame(eight, 5) for _ in range(3))


async def stream(url: str, jpg: bytes, seconds: float, batches: list) -> int:
    """One client, one frame in flight, for `seconds`; returns the results it got."""
    n = 0
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        until = time.perf_counter() + seconds
        while time.perf_counter() < until:
            await ws.send_bytes(encode_frame({"frame": n}, [("image", Blob("jpeg", jpg))]))
            msg = await ws.receive(timeout=30)
            header = decode_frame(msg.data)[0] if msg.type == aiohttp.WSMsgType.BINARY else {}
            if header.get("type") != "result":
                raise SystemExit(f"expected a result, got {msg.data[:300]!r}")
            batches.append(header["timings"].get("batch"))
            n += 1
    return n


async def measure(base: str, model: str, streams: int, jpg: bytes, seconds: float) -> tuple[float, list]:
    url = base.replace("http", "ws") + f"/v1/models/{model}/stream"
    batches: list = []
    t0 = time.perf_counter()
    counts = await asyncio.gather(*(stream(url, jpg, seconds, batches) for _ in range(streams)))
    return sum(counts) / (time.perf_counter() - t0), batches


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compare(base: str, names, jpg: bytes, *, streams: int, rounds: int, seconds: float, pid: int,
            warmup: float = 0.5) -> dict:
    """Per model and mode (rounds rotate the order): median fps, the batch sizes seen, and the
    median daemon CPU ms per frame (`pid`'s CPU time over the frames: what other load on the
    machine changes least)."""
    fps = {f"{n}_{mode}": [] for n in names for mode in MODES}
    sizes = {k: [] for k in fps}
    cpu = {k: [] for k in fps}
    for key in fps:  # warm up: sessions, threads, first allocations
        asyncio.run(measure(base, key, streams, jpg, warmup))
    for r in range(rounds):
        for n in names:
            for mode in MODES[r % 3:] + MODES[:r % 3]:
                c0 = cpu_seconds(pid)
                rate, batches = asyncio.run(measure(base, f"{n}_{mode}", streams, jpg, seconds))
                cpu[f"{n}_{mode}"].append((cpu_seconds(pid) - c0) * 1000 / max(1, len(batches)))
                fps[f"{n}_{mode}"].append(rate)
                sizes[f"{n}_{mode}"] += [b for b in batches if b is not None]
    return {k: (statistics.median(v), sizes[k], statistics.median(cpu[k])) for k, v in fps.items()}


def report(names, results: dict, sessions: dict, target: dict) -> bool:
    """Print each model's fps per mode and the ratios; whether every target was met. The target
    is judged against the faster of the two baselines (max_size 1, or a plain command)."""
    ok = True
    for n in names:
        (on, b_on, c_on), (off, b_off, c_off), (plain, _, c_plain) = (results[f"{n}_{mode}"] for mode in MODES)
        one, eight = sessions[n]
        ratio = on / max(off, plain)
        seen = (f"mean batch {statistics.mean(b_on):.1f} on, {statistics.mean(b_off) if b_off else 1:.1f} off"
                if b_on else "no batch sizes in the result timings")
        goal = target.get(n)
        verdict = "" if goal is None else f"   target >= {goal:g}x: {'PASS' if ratio >= goal else 'BELOW TARGET'}"
        ok &= goal is None or ratio >= goal
        print(f"  {n:<12} on {on:7.1f} fps   off (max_size 1) {off:7.1f} fps   plain command (--batch 1) "
              f"{plain:7.1f} fps")
        print(f"  {'':<12} ratio on/off {on / off:4.2f}x   on/plain {on / plain:4.2f}x{verdict}")
        print(f"  {'':<12} daemon CPU per frame: on {c_on:.2f} ms, off {c_off:.2f}, plain {c_plain:.2f} "
              f"(off/on {c_off / c_on:.2f}x, plain/on {c_plain / c_on:.2f}x)")
        print(f"  {'':<12} ({seen}; session alone: {one:.2f} ms/frame at 1, {eight:.2f} at 8 = {one / eight:.2f}x)")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2, help="per round and mode")
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    args = ap.parse_args()
    names = [n for n in args.models.split(",") if n]
    if not set(names) <= set(MODELS):
        sys.exit(f"--models takes {', '.join(MODELS)}")
    with tempfile.TemporaryDirectory() as tmp:
        files = build(Path(tmp))
        sessions = {n: session_gain(files[n]) for n in names}
        proc, base = serve("--adapters", str(Path(tmp) / "adapters"), *launch_args(names), ready="/readyz")
        try:
            results = compare(base, names, frame((SIZE, SIZE), 90), streams=args.streams, rounds=args.rounds,
                              seconds=args.seconds, pid=proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"{args.streams} streams, {SIZE}x{SIZE} JPEG, one frame in flight each; medians of {args.rounds} "
          f"rounds of {args.seconds:g} s")
    report(names, results, sessions, {"autoencoder": 1.5})


if __name__ == "__main__":
    main()
