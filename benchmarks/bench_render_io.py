"""Video I/O for `runway-bridge render`: PyAV against OpenCV, decode and encode, in one run.

    python benchmarks/bench_render_io.py [--frames 150]

Decodes the first N frames of opencv-doc's vtest.avi (768x576) to RGB with each library, and encodes
them to an .mp4 with each writer it offers (OpenCV: mp4v, the only MPEG-4 codec its pip wheels write;
PyAV: H.264 through libx264, and mpeg4). Prints medians in ms per frame, file sizes, and the ratios
PyAV / OpenCV. Codec support decides as much as speed: only PyAV writes H.264 and carries audio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def _per_frame(fn, frames: int, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000 / frames)
    return statistics.median(times)


def main() -> None:
    import av

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=150)
    n = ap.parse_args().frames

    def cv_decode():
        cap = cv2.VideoCapture(str(VTEST))
        out = []
        for _ in range(n):
            out.append(cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB))
        cap.release()
        return out

    def av_decode():
        with av.open(str(VTEST)) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            out = []
            for f in c.decode(s):
                out.append(f.to_ndarray(format="rgb24"))
                if len(out) == n:
                    return out
        return out

    frames = cv_decode()
    assert np.mean(np.abs(frames[10].astype(int) - av_decode()[10])) < 3  # the same pictures
    tmp = Path(tempfile.mkdtemp())
    sizes = {}

    def cv_encode():
        path = tmp / "cv.mp4"
        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (768, 576))
        for f in frames:
            w.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        w.release()
        sizes["opencv mp4v"] = path.stat().st_size

    def av_encode(codec, options):
        def run():
            label = f"{codec} {options.get('preset', '')}".strip()
            path = tmp / f"av-{label.replace(' ', '-')}.mp4"
            with av.open(str(path), "w") as c:
                s = c.add_stream(codec, rate=10)
                s.width, s.height, s.pix_fmt, s.options = 768, 576, "yuv420p", options
                for i, f in enumerate(frames):
                    vf = av.VideoFrame.from_ndarray(f, format="rgb24")
                    vf.pts, vf.time_base = i, Fraction(1, 10)
                    for p in s.encode(vf):
                        c.mux(p)
                for p in s.encode():
                    c.mux(p)
            sizes[f"pyav {label}"] = path.stat().st_size
        return run

    rows = {
        "decode opencv": _per_frame(cv_decode, n),
        "decode pyav": _per_frame(av_decode, n),
        "encode opencv mp4v": _per_frame(cv_encode, n),
        "encode pyav mpeg4": _per_frame(av_encode("mpeg4", {"qscale": "3"}), n),
        "encode pyav libx264": _per_frame(av_encode("libx264", {"crf": "18", "preset": "veryfast"}), n),
        "encode pyav x264 superfast": _per_frame(av_encode("libx264", {"crf": "18", "preset": "superfast"}), n),
    }
    print(f"{n} frames of vtest.avi (768x576), medians of 3 runs, ms per frame")
    for name, ms in rows.items():
        print(f"  {name:27s} {ms:6.2f} ms")
    for name, size in sizes.items():
        print(f"  file {name:22s} {size / 1024:7.0f} KiB")
    print(f"ratio decode pyav/opencv: {rows['decode pyav'] / rows['decode opencv']:.2f}")
    print(f"ratio encode pyav libx264/opencv mp4v: {rows['encode pyav libx264'] / rows['encode opencv mp4v']:.2f}")


if __name__ == "__main__":
    main()
