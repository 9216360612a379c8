"""Median CPU time of every catalogue adapter's default command on one 640x480 frame.

Loads each ``adapters/<id>/model.py`` with `runway_bridge.model.load_model`, runs its setup with
default options, then times the default command (the card's ``default_command``, else the first
command) on the astronaut photo letterboxed into 640x480. Image inputs get that frame; every
other input takes its default. Two numbers per adapter, in milliseconds:

- ``model``: the author's function alone, on already-decoded inputs (what a card's
  ``[speed] cpu_ms_640x480`` records);
- ``call``: `Model.run_command` with a numpy frame, so input checks and output encoding
  (data URIs for images) are included.

A command with no image input (a generator) runs on its defaults alone, e.g. the CPPN's
512x512; its card records that median as ``[speed] cpu_ms_defaults``.

Usage::

    python benchmarks/bench_models.py                       # every adapter, table on stdout
    python benchmarks/bench_models.py --only pose,hands --runs 50
    python benchmarks/bench_models.py --write-cards         # store model medians in model.toml
    python benchmarks/bench_models.py --quick               # 5 runs each, for CI (well under a minute)

Timings vary by up to ~30% between runs on a shared machine; use medians, and compare numbers
only from the same machine and run.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runway_bridge.model import deserialize_fields, load_model  # noqa: E402
from runway_bridge.types import image  # noqa: E402

SPEED_KEY = "cpu_ms_640x480"
DEFAULTS_KEY = "cpu_ms_defaults"  # commands without an image input: their default inputs


def test_frame(width: int = 640, height: int = 480) -> np.ndarray:
    """The astronaut (a face and upper body) letterboxed into width x height, RGB uint8."""
    from skimage import data

    photo = data.astronaut()
    side = min(width, height)
    photo = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
    frame = np.full((height, width, 3), 127, np.uint8)
    top, left = (height - side) // 2, (width - side) // 2
    frame[top : top + side, left : left + side] = photo
    return frame


def card_text(adapter: Path) -> str:
    card = adapter / "model.toml"
    return card.read_text() if card.exists() else ""


def default_command(adapter: Path, model) -> str:
    match = re.search(r'^default_command\s*=\s*"([^"]+)"', card_text(adapter), re.MULTILINE)
    if match and match.group(1) in model.commands:
        return match.group(1)
    return next(iter(model.commands))


def median_ms(fn, runs: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def bench(adapter: Path, frame: np.ndarray, runs: int, warmup: int) -> dict:
    model = load_model(adapter / "model.py")
    state = model.run_setup({})
    name = default_command(adapter, model)
    cmd = model.commands[name]
    wire = {k: frame for k, t in cmd.inputs.items() if isinstance(t, image)}
    args = deserialize_fields(cmd.inputs, wire, None, "inputs")

    def call_fn():
        out = cmd.fn(state, args)
        if cmd.is_generator:
            for _ in out:
                pass

    return {
        "command": name,
        "key": SPEED_KEY if wire else DEFAULTS_KEY,
        "model": median_ms(call_fn, runs, warmup),
        "call": median_ms(lambda: model.run_command(state, name, wire), runs, warmup),
    }


def write_card(adapter: Path, ms: float, key: str = SPEED_KEY) -> bool:
    """Set ``[speed] <key>`` (cpu_ms_640x480) in the adapter's model.toml; False when it has no card."""
    card = adapter / "model.toml"
    if not card.exists():
        return False
    text = card.read_text()
    value = f"{key} = {ms:.1f}"
    if re.search(rf"^{key}\s*=.*$", text, re.MULTILINE):
        text = re.sub(rf"^{key}\s*=.*$", value, text, count=1, flags=re.MULTILINE)
    elif re.search(r"^\[speed\]\s*$", text, re.MULTILINE):
        text = re.sub(r"^\[speed\]\s*$", f"[speed]\n{value}", text, count=1, flags=re.MULTILINE)
    else:
        text = text.rstrip("\n") + f"\n\n[speed]\n{value}\n"
    card.write_text(text)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapters", type=Path, default=ROOT / "adapters", help="folder of adapters")
    parser.add_argument("--only", default="", help="comma-separated adapter ids (default: all)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per adapter (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    parser.add_argument("--write-cards", action="store_true", help=f"store model medians as [speed] {SPEED_KEY}")
    parser.add_argument("--quick", action="store_true", help="5 runs and 1 warm-up each (CI)")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.warmup = 5, 1

    only = {s.strip() for s in args.only.split(",") if s.strip()}
    adapters = sorted(p for p in args.adapters.iterdir() if (p / "model.py").exists() and (not only or p.name in only))
    frame = test_frame()
    print(f"{'adapter':<22} {'command':<12} {'model ms':>9} {'call ms':>9}")
    failed = 0
    for adapter in adapters:
        try:
            r = bench(adapter, frame, args.runs, args.warmup)
        except Exception as e:  # one broken adapter must not hide the others' numbers
            failed += 1
            print(f"{adapter.name:<22} failed: {type(e).__name__}: {e}")
            continue
        note = ""
        if args.write_cards:
            note = "  (card updated)" if write_card(adapter, r["model"], r["key"]) else "  (no model.toml)"
        print(f"{adapter.name:<22} {r['command']:<12} {r['model']:>9.1f} {r['call']:>9.1f}{note}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
