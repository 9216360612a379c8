"""Frames a 30 fps source loses with one and with two models on it, in one run.

    python benchmarks/bench_sources.py [--seconds 20]

A 30 fps 640x480 video (the astronaut photo panning, made here) is read by the daemon as a
source: first for haar_faces alone, then shared by haar_faces and face_mesh (one capture, two
streams). For each model: frames read, frames it processed, and the share it lost (dropped by its
latest-frame-wins stream because the model was still busy), plus the capture's read rate. The
capture itself must read at the file's 30 fps either way: sharing it costs no reads.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
from _common import serve


def _video(path: Path, seconds: float) -> Path:
    from skimage import data

    photo = cv2.cvtColor(cv2.resize(data.astronaut(), (400, 400)), cv2.COLOR_RGB2BGR)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 480))
    for i in range(int(seconds * 30)):
        frame = np.full((480, 640, 3), 90, np.uint8)
        x = int(120 + 100 * np.sin(i / 30))
        frame[40:440, x:x + 400] = photo
        w.write(frame)
    w.release()
    return path


def _run(models: list[str], video: Path, seconds: float) -> dict:
    args = [a for m in models for a in ("--model", m, "--source", f"{m}={video}")]
    proc, url = serve(*args)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until every model runs and its source reads
            with urllib.request.urlopen(url + "/v1/sources") as r:
                s = json.load(r)
            if len(s["sources"]) == len(models) and all(x["processed"] > 0 for x in s["sources"]):
                break
            time.sleep(0.2)
        with urllib.request.urlopen(url + "/v1/sources") as r:
            before = {x["model"]: x for x in json.load(r)["sources"]}
        time.sleep(seconds)
        with urllib.request.urlopen(url + "/v1/sources") as r:
            after = json.load(r)
    finally:
        proc.terminate()
        proc.wait(10)
    out = {"captures": len(after["captures"]), "read_fps": after["captures"][0]["read_fps"], "models": {}}
    for x in after["sources"]:
        b = before[x["model"]]
        read = x["frames_read"] - b["frames_read"]
        done = x["processed"] - b["processed"]
        out["models"][x["model"]] = {"read": read, "processed": done, "lost": 1 - done / read if read else float("nan")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20)
    seconds = ap.parse_args().seconds
    video = _video(Path(tempfile.mkdtemp()) / "pan30.mp4", max(seconds + 10, 20))
    for models in (["haar_faces"], ["haar_faces", "face_mesh"]):
        r = _run(models, video, seconds)
        print(f"{' + '.join(models)}: {r['captures']} capture, read at {r['read_fps']:.1f} fps (file: 30)")
        for m, x in r["models"].items():
            print(f"  {m:12s} read {x['read']:4d}  processed {x['processed']:4d}  lost {x['lost']:5.1%}")


if __name__ == "__main__":
    main()
