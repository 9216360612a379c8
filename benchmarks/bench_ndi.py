"""What an NDI video out adds per 640x480 frame, against the model alone, in one run.

    python benchmarks/bench_ndi.py [--frames 60]

The model is style transfer (the catalogue's, in process). For each frame: the model's own time,
then the sink's: from `publish()` of the model's JPEG output to the frame handed to NDI (decode,
RGB to BGRX, send), with an independent receiver (tests/ndi_peer.py) connected, as a VJ tool would
be. Prints medians and the ratio sink / model. The sink runs on its own thread, so this is latency
added to the picture, not time taken from the model.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
from _common import ROOT, frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    n = ap.parse_args().frames

    import numpy as np

    from runway_bridge.model import load_model
    from runway_bridge.sinks import NDISink
    from runway_bridge.types import Blob

    rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(frame(), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    model = load_model(ROOT / "adapters" / "style_transfer")
    state = model.run_setup({})
    cmd = next(iter(model.commands))
    model_ms, outputs = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        outputs = model.run_command(state, cmd, {"image": rgb}, binary=True)
        model_ms.append((time.perf_counter() - t0) * 1000)
    blob = next(v for v in outputs.values() if isinstance(v, Blob))

    name = f"rb-bench-{time.monotonic_ns()}"
    sink = NDISink(name)
    out = Path(tempfile.mkdtemp()) / "f.npy"
    peer = subprocess.Popen([sys.executable, str(ROOT / "tests" / "ndi_peer.py"), "recv", name, str(out), str(10 ** 6)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while sink._sender.connections() == 0 and time.monotonic() < deadline:
            sink.publish(blob)
            time.sleep(0.05)
        sink_ms = []
        for _ in range(n):
            sent = sink.sent
            t0 = time.perf_counter()
            sink.publish(blob)
            while sink.sent == sent:
                time.sleep(0.0002)
            sink_ms.append((time.perf_counter() - t0) * 1000)
            time.sleep(1 / 30)
    finally:
        peer.kill()
        sink.close()
    m, s = statistics.median(model_ms), statistics.median(sink_ms)
    print(f"{n} frames of 640x480; receiver connected: {bool(sink_ms)}")
    print(f"  style transfer alone       {m:7.2f} ms (median)")
    print(f"  NDI sink, publish to sent  {s:7.2f} ms (median; decode + convert + send, on its own thread)")
    print(f"ratio sink/model: {s / m:.3f}")


if __name__ == "__main__":
    main()
