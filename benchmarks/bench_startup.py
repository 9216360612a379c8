"""Daemon launch: time to the first /healthz answer (budget 1 s) and idle memory (budget 150 MB).

    .venv/bin/python benchmarks/bench_startup.py [--runs 5] [--model face_mesh]

Each run starts ``runway-bridge serve`` with the built-in catalogue and a model loading in the
background, polls /healthz every 5 ms, then reads the daemon's RSS after a few idle seconds with
no model started. Medians over the runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import urllib.request

from _common import ROOT, free_port, rss_mb


def first_answer(args: list[str]) -> tuple[float, subprocess.Popen, int]:
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "runway_bridge", "serve", "--port", str(port), "--no-osc", *args],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return time.perf_counter() - t0, proc, port
        except OSError:
            time.sleep(0.005)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--model", default="face_mesh")
    args = ap.parse_args()
    launch, idle = [], []
    for _ in range(args.runs):
        seconds, proc, port = first_answer(["--model", args.model])
        launch.append(seconds)
        proc.terminate()
        proc.wait()
        _, proc, _ = first_answer([])
        time.sleep(3)
        idle.append(rss_mb(proc.pid))
        proc.terminate()
        proc.wait()
    med_launch, med_idle = statistics.median(launch), statistics.median(idle)
    print(f"first /healthz answer while {args.model} loads: median {med_launch * 1000:.0f} ms "
          f"(runs {', '.join(f'{s * 1000:.0f}' for s in launch)}), budget 1000 ms, ratio {med_launch:.2f} "
          f"{'PASS' if med_launch < 1 else 'OVER BUDGET'}")
    print(f"idle RSS, no model started: median {med_idle:.0f} MB, budget 150 MB, ratio {med_idle / 150:.2f} "
          f"{'PASS' if med_idle < 150 else 'OVER BUDGET'}")


if __name__ == "__main__":
    main()
