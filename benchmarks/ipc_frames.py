"""How should a 640x480 frame cross to a worker process: one bytes transfer, or shared memory?

Round trip (daemon -> worker -> daemon, the worker answering with the same-size payload) of a
JPEG q80 frame and of raw RGB pixels, over the process backend's transport (a socket pair with
`multiprocessing.connection`, pickled messages) versus a reused shared-memory slot per direction
plus a small message. Run: ``python benchmarks/ipc_frames.py``.
"""

from __future__ import annotations

import pickle
import socket
import statistics
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory

import cv2

SLOT = 4 << 20
CHILD = r"""
import pickle, sys
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
import numpy as np
conn = Connection(int(sys.argv[1]))
shm_in, shm_out = SharedMemory(sys.argv[2]), SharedMemory(sys.argv[3])
from multiprocessing import resource_tracker  # the daemon owns the slots (3.11 has no track=False)
for s in (shm_in, shm_out):
    resource_tracker.unregister(s._name, "shared_memory")
while True:
    try:
        msg = pickle.loads(conn.recv_bytes())
    except EOFError:
        break
    if msg[0] == "bytes":  # the payload is in the message; answer with one of the same size
        conn.send_bytes(pickle.dumps(("bytes", bytes(msg[1])), protocol=5))
    else:  # read in place (as cv2.imdecode could), write the answer into the out slot
        n = msg[1]
        view = np.frombuffer(shm_in.buf, np.uint8, n)
        shm_out.buf[:n] = view
        del view
        conn.send_bytes(pickle.dumps(("shm", n), protocol=5))
shm_in.close(); shm_out.close()
"""


def main(n: int = 300) -> None:
    from skimage.data import astronaut

    rgb = cv2.resize(astronaut(), (640, 480))  # a photo, so the JPEG has a realistic size
    jpeg = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    payloads = {"jpeg": jpeg, "raw": rgb.tobytes()}
    shm_in, shm_out = SharedMemory(create=True, size=SLOT), SharedMemory(create=True, size=SLOT)
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(theirs.fileno()), shm_in.name, shm_out.name],
                            pass_fds=(theirs.fileno(),))
    theirs.close()
    conn = Connection(ours.detach())
    try:
        for name, data in payloads.items():
            for mode in ("bytes", "shm"):
                times = []
                for _ in range(n):
                    t = time.perf_counter()
                    if mode == "bytes":
                        conn.send_bytes(pickle.dumps(("bytes", data), protocol=5))
                        out = pickle.loads(conn.recv_bytes())[1]
                    else:
                        shm_in.buf[: len(data)] = data
                        conn.send_bytes(pickle.dumps(("shm", len(data)), protocol=5))
                        k = pickle.loads(conn.recv_bytes())[1]
                        out = bytes(shm_out.buf[:k])  # the slot is reused: the answer must be copied out
                    times.append(time.perf_counter() - t)
                    assert len(out) == len(data)
                print(f"{name:5s} {len(data) / 1000:7.1f} kB  {mode:5s}  median {statistics.median(times) * 1e3:.3f} ms")
    finally:
        conn.close()
        proc.wait()
        for s in (shm_in, shm_out):
            s.close()
            s.unlink()


if __name__ == "__main__":
    main()
