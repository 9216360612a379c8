"""An NDI peer for the tests, written straight against ndi-python (NDIlib), none of our code.

    python tests/ndi_peer.py recv NAME OUT.npy [FRAMES]   find NAME at 127.0.0.1, save its last frame (RGB)
    python tests/ndi_peer.py send NAME IMAGE.npy SECONDS  send an RGB image as a 30 fps NDI source

Discovery asks 127.0.0.1 directly ("extra IPs"): these machines have no mDNS.
"""

import sys
import time

import NDIlib as ndi
import numpy as np


def recv(name: str, out: str, frames: int = 3) -> None:
    fc = ndi.FindCreate()
    fc.show_local_sources = True
    fc.extra_ips = "127.0.0.1"
    finder = ndi.find_create_v2(fc)
    deadline, source = time.monotonic() + 30, None
    while source is None and time.monotonic() < deadline:
        ndi.find_wait_for_sources(finder, 500)
        source = next((s for s in ndi.find_get_current_sources(finder) if s.ndi_name.endswith(f"({name})")), None)
    if source is None:
        sys.exit(f"no NDI source {name!r} found")
    rc = ndi.RecvCreateV3()
    rc.color_format = ndi.RECV_COLOR_FORMAT_RGBX_RGBA
    receiver = ndi.recv_create_v3(rc)
    ndi.recv_connect(receiver, source)
    got, last = 0, None
    while got < frames and time.monotonic() < deadline + 30:
        kind, video, _, _ = ndi.recv_capture_v2(receiver, 1000)
        if kind == ndi.FRAME_TYPE_VIDEO:
            last = np.array(video.data[..., :3])
            ndi.recv_free_video_v2(receiver, video)
            got += 1
    if last is None:
        sys.exit("connected, but no video came")
    np.save(out, last)
    print(f"received {got} frames of {last.shape[1]}x{last.shape[0]} from {source.ndi_name} at {source.url_address}")


def send(name: str, image: str, seconds: float) -> None:
    rgb = np.load(image)
    settings = ndi.SendCreate()
    settings.ndi_name = name
    sender = ndi.send_create(settings)
    frame = ndi.VideoFrameV2()
    frame.FourCC = ndi.FOURCC_VIDEO_TYPE_RGBX
    frame.data = np.ascontiguousarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]))
    print("sending", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ndi.send_send_video_v2(sender, frame)  # clocked: 30 fps
    ndi.send_destroy(sender)


if __name__ == "__main__":
    if not ndi.initialize():
        sys.exit("NDI does not start here")
    if sys.argv[1] == "recv":
        recv(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 3)
    else:
        send(sys.argv[2], sys.argv[3], float(sys.argv[4]))
