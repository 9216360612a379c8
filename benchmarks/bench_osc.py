"""OSC budget (DESIGN 5): a 478-point face-mesh result leaves as datagrams within the size limit in under 1 ms.

Times what the daemon does once per result (`runway_bridge.transports.osc.OscServer._encode`):
flatten every numeric output to float32, split into datagrams of at most ``--limit`` bytes
(``/face_mesh/landmarks``, ``/count``, per face ``/face_mesh/landmarks/<i>``, the boxes) and
build the ``/data`` JSON string (landmarks replaced by a note when they do not fit). Then the
same plus handing every datagram to a UDP socket on loopback (what a peer costs on top). The
face-mesh manifest comes from ``adapters/face_mesh`` (its 478 labels) when MediaPipe imports,
else an equivalent literal.

Usage::

    python benchmarks/bench_osc.py                  # 1 face, 1,400-byte datagrams
    python benchmarks/bench_osc.py --faces 2 --limit 9216 --runs 5000

Prints medians and p99 in milliseconds, the datagram sizes, and the ratio to the 1 ms budget.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runway_bridge.transports import _osc_codec as codec  # noqa: E402

BUDGET_MS = 1.0


def face_mesh_specs() -> tuple[dict, str]:
    try:
        from runway_bridge.model import load_model

        cmd = load_model(ROOT / "adapters" / "face_mesh" / "model.py").manifest()["commands"][0]
        return {o["name"]: o for o in cmd["outputs"]}, "adapters/face_mesh manifest"
    except Exception as e:  # MediaPipe missing: the same shape of manifest
        labels = [f"p{i}" for i in range(478)]
        return {"landmarks": {"name": "landmarks", "type": "array",
                              "itemType": {"type": "image_landmarks", "length": 478, "labels": labels}},
                "boxes": {"name": "boxes", "type": "array", "itemType": {"type": "image_bounding_box"}}}, \
            f"literal manifest ({type(e).__name__})"


def encode(outputs: dict, specs: dict, limit: int) -> list[bytes]:
    data, _ = codec.data_message("/data", outputs, limit, "face_mesh")
    return [data, *codec.result_numbers("face_mesh", outputs, specs, limit)]


def stats(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples) * 1000, samples[int(len(samples) * 0.99) - 1] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faces", type=int, default=1)
    ap.add_argument("--limit", type=int, default=1400, help="largest datagram in bytes")
    ap.add_argument("--runs", type=int, default=3000)
    args = ap.parse_args()

    specs, where = face_mesh_specs()
    rng = np.random.default_rng(0)
    # what a model's serialized outputs look like: lists of [x, y] Python floats
    outputs = {"landmarks": [rng.random((478, 2)).tolist() for _ in range(args.faces)],
               "boxes": [[0.3, 0.2, 0.6, 0.5] for _ in range(args.faces)]}

    for _ in range(200):
        encode(outputs, specs, args.limit)
    enc = []
    for _ in range(args.runs):
        t = time.perf_counter()
        dgrams = encode(outputs, specs, args.limit)
        enc.append(time.perf_counter() - t)

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    rx.setblocking(False)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setblocking(False)
    dest = rx.getsockname()
    full = []
    for _ in range(args.runs):
        t = time.perf_counter()
        for d in encode(outputs, specs, args.limit):
            tx.sendto(d, dest)
        full.append(time.perf_counter() - t)
        try:
            while True:
                rx.recv(65536)
        except BlockingIOError:
            pass

    sizes = [len(d) for d in dgrams]
    print(f"face mesh, {args.faces} face(s), {args.limit}-byte datagrams, {args.runs} runs ({where})")
    print(f"datagrams per result: {len(sizes)}, {sum(sizes)} bytes, largest {max(sizes)} "
          f"(limit {args.limit}: {'ok' if max(sizes) <= args.limit else 'OVER'})")
    print(f"sizes: {sizes}")
    for name, samples in (("flatten + split + encode", enc), ("... + sendto on loopback", full)):
        med, p99 = stats(samples)
        print(f"{name:28s} median {med:7.3f} ms   p99 {p99:7.3f} ms   ratio to the {BUDGET_MS:g} ms budget "
              f"{med / BUDGET_MS:.2f}")


if __name__ == "__main__":
    main()
