"""Dynamic batching on a GPU: 8 streams into an imported ONNX conv model on CUDA, batching on vs off.

    python benchmarks/gpu/bench_gpu_batching.py              # CUDA; exits 2 when there is none
    python benchmarks/gpu/bench_gpu_batching.py --device cpu # the same run on the CPU: proves the script

Builds its model here with `onnx.helper` (no downloads): 3x3 convs (3 -> 64 -> 64 -> 64 -> 3
channels, ReLU between, plus the input) on 224x224 frames with a dynamic batch axis, imported by
`import_onnx` with ``device="cuda"`` as ``conv_on`` (a batch=8 command), ``conv_off`` (card
``[batch] max_size = 1``) and ``conv_one`` (``batch=1``: a plain command). One daemon serves them; 8 WebSocket streams send 224x224 JPEGs, one frame
in flight each; rounds alternate on and off, and the figures are medians. At a batch of one a GPU
is mostly idle between kernel launches; a batch of 8 fills it: the ratio should be well above 1.
It also prints ONNX Runtime's own gain (batch of 8 vs 1, no daemon) as the ceiling.

Unattended: the whole run is cut off at --budget seconds (default 280) with exit code 3. Exit 2:
no CUDA (onnxruntime without CUDAExecutionProvider, or a session or the daemon's model that fell
back to the CPU). Exit 0 otherwise, whatever the ratio; the ratio is printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # benchmarks/: _common (which puts the repo and tests/ on the path)

from _common import frame, serve  # noqa: E402
from bench_batching import MODES, build, compare, launch_args, measure, report, session_gain  # noqa: E402
from onnx_models import conv_model  # noqa: E402

CUDA = ["CUDAExecutionProvider", "CPUExecutionProvider"]


def no_cuda(why: str) -> None:
    print(f"CUDA is not available: {why}.\n  Install onnxruntime-gpu (pip install '.[cuda]', in place of onnxruntime) "
          f"with a CUDA and cuDNN it supports, or run with --device cpu to check the script itself.", file=sys.stderr)
    sys.exit(2)


def check_cuda(onnx_file: Path) -> None:
    """Exit 2 unless ONNX Runtime really runs this model on CUDA (it falls back to the CPU quietly)."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if "CUDAExecutionProvider" not in available:
        no_cuda(f"onnxruntime {ort.__version__} has only {', '.join(available)}")
    session = ort.InferenceSession(str(onnx_file), providers=CUDA)
    if session.get_providers()[0] != "CUDAExecutionProvider":
        no_cuda(f"a session asked for CUDA runs on {session.get_providers()[0]} (CUDA or cuDNN libraries missing?)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--size", type=int, default=224, help="frame and model size (square)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4, help="per round and mode")
    ap.add_argument("--budget", type=float, default=280, help="cut the whole run off after this many seconds")
    args = ap.parse_args()

    def out_of_time(*_):
        print(f"bench_gpu_batching: over its {args.budget:g} s budget; stopped", file=sys.stderr)
        sys.exit(3)

    signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, args.budget)
    started = time.perf_counter()
    size = args.size
    models = {"conv": lambda p: conv_model(p, size=(size, size), hidden=64, layers=4)}
    with tempfile.TemporaryDirectory() as tmp:
        files = build(Path(tmp), models, device=args.device)
        providers = CUDA if args.device == "cuda" else ["CPUExecutionProvider"]
        if args.device == "cuda":
            check_cuda(files["conv"])
        one, eight = session_gain(files["conv"], size, providers)
        proc, base = serve("--adapters", str(Path(tmp) / "adapters"), *launch_args(["conv"]))
        try:
            for model in (f"conv_{mode}" for mode in MODES):
                with urllib.request.urlopen(f"{base}/v1/models/{model}", timeout=10) as r:
                    status = json.load(r)["status"]
                if args.device == "cuda" and not status.get("gpu"):
                    no_cuda(f"the daemon's {model} runs on the CPU ({status})")
            jpg = frame((size, size), 90)
            for k in range(1, args.streams + 1):  # every batch size once: cuDNN picks its algorithms per shape
                asyncio.run(measure(base, "conv_on", k, jpg, 0.3))
            results = compare(base, ["conv"], jpg, streams=args.streams, rounds=args.rounds, seconds=args.seconds,
                              pid=proc.pid, warmup=2)
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"{args.device}: {args.streams} streams, {size}x{size} JPEG, one frame in flight each; medians of "
          f"{args.rounds} rounds of {args.seconds:g} s ({time.perf_counter() - started:.0f} s in all)")
    report(["conv"], results, {"conv": (one, eight)}, {})
    on, off = results["conv_on"][0], max(results["conv_off"][0], results["conv_one"][0])
    print(f"ratio {on / off:.2f}x (batching on / the faster of off and a plain command, {args.device})")


if __name__ == "__main__":
    main()
