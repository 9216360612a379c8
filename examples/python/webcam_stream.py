r"""Stream a camera (or a video file) through a model over the WebSocket fast path and draw the results.

    runway-bridge serve --model face_mesh              # in another terminal
    .venv/bin/python examples/python/webcam_stream.py --model face_mesh
    .venv/bin/python examples/python/webcam_stream.py --model pose --source dance.mp4
    .venv/bin/python examples/python/webcam_stream.py --model cartoon --no-window --frames 100   # print only

(from the repository after scripts/install.sh; on Windows ``.venv\Scripts\python``; any
Python that has runway_bridge installed will do).

Frames are sent without waiting (the latest frame wins, on this side and in the daemon); each
result carries the id of the frame it belongs to, the daemon's timings and the count of frames
it dropped. A window needs OpenCV with GUI support; the headless
build that runway-bridge installs can only print. To swap it (never install both: they share
``cv2/``): ``python -m pip uninstall -y opencv-python-headless`` then
``python -m pip install "opencv-python<5"`` with that same Python.
"""

import argparse
import time

import cv2
import numpy as np

from runway_bridge.client import Bridge


def draw(bgr, outputs):
    """Points, boxes and image outputs of any model, drawn over the frame (in place)."""
    h, w = bgr.shape[:2]
    for value in outputs.values():
        if isinstance(value, np.ndarray) and value.ndim == 3:  # an image output: show it instead
            bgr[:] = cv2.resize(cv2.cvtColor(value[:, :, :3], cv2.COLOR_RGB2BGR), (w, h))
            continue
        arr = np.asarray(value, dtype=float) if isinstance(value, list) and value else None
        if arr is None or arr.dtype == object:
            continue
        if arr.ndim >= 2 and arr.shape[-1] == 2:  # points or landmarks
            for x, y in arr.reshape(-1, 2):
                cv2.circle(bgr, (int(x * w), int(y * h)), 2, (0, 255, 0), -1)
        elif arr.ndim == 2 and arr.shape[-1] == 4:  # boxes
            for x0, y0, x1, y1 in arr:
                cv2.rectangle(bgr, (int(x0 * w), int(y0 * h)), (int(x1 * w), int(y1 * h)), (0, 255, 255), 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="face_mesh")
    ap.add_argument("--source", default="0", help="camera index or video file")
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--frames", type=int, default=0, help="stop after this many results (0: never)")
    ap.add_argument("--no-window", action="store_true")
    args = ap.parse_args()

    cap = cv2.VideoCapture(int(args.source) if args.source.isdigit() else args.source)
    if not cap.isOpened():
        raise SystemExit(f"cannot open {args.source}")
    with Bridge(args.url) as bridge, bridge.stream(args.model) as stream:
        got, t0 = 0, time.perf_counter()
        while not args.frames or got < args.frames:
            ok, bgr = cap.read()
            if not ok:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)  # a file: loop
                continue
            stream.send(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            r = stream.latest  # the newest result, whichever frame it belongs to
            for r in stream.results():
                got += 1
                if not r.ok:
                    print(f"frame {r.frame}: error {r.error}")
                elif args.no_window:
                    print(f"frame {r.frame}: {r.latency_ms:.1f} ms round trip, model {r.timings.get('model')} ms, "
                          f"{r.dropped} dropped, outputs {sorted(r.outputs)}")
            if not args.no_window:
                if r is not None and r.ok:
                    draw(bgr, r.outputs)
                fps = got / (time.perf_counter() - t0)
                cv2.putText(bgr, f"{fps:.1f} results/s", (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
                cv2.imshow("runway-bridge", bgr)
                if cv2.waitKey(1) == 27:  # Esc
                    break
            else:
                time.sleep(0.01)


if __name__ == "__main__":
    main()
