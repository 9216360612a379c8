"""`runway-bridge render`: real videos through real models into files a player opens."""

from __future__ import annotations

import csv
import json
import os
import pty
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import FIXTURE_ADAPTERS, ROOT

av = pytest.importorskip("av", reason="render needs PyAV: pip install 'runway-bridge[video]'")

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
pytestmark = pytest.mark.skipif(not VTEST.exists(), reason="needs Debian's opencv-doc (vtest.avi)")


def cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runway_bridge", "render", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240, **kw)


def video_info(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(v)]
    with av.open(str(path)) as c:
        audio = [p for p in c.demux(c.streams.audio[0]) if p.size] if c.streams.audio else []
    return {"frames": frames, "size": (v.width, v.height), "codec": v.codec_context.name, "audio_packets": len(audio)}


def vtest_frames(n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VTEST))
    out = [cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB) for _ in range(n)]
    cap.release()
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255 ** 2 / mse) if mse else 99.0


def test_render_vtest_through_cartoon_matches_the_model(tmp_path):
    out = tmp_path / "cartoon.mp4"
    r = cli(VTEST, "--model", "cartoon", "-o", out, "--frames", 24)
    assert r.returncode == 0, r.stderr
    info = video_info(out)
    assert len(info["frames"]) == 24 and info["size"] == (768, 576) and info["codec"] == "h264"
    assert not (tmp_path / "cartoon.partial.mp4").exists()
    # the frames are what the model computes (H.264 at crf 18 keeps them close)
    from runway_bridge.model import load_model

    model = load_model(ROOT / "adapters" / "cartoon")
    state = model.run_setup({})
    for i, frame in zip((0, 23), (vtest_frames(24)[0], vtest_frames(24)[23]), strict=True):
        expected = model.call(state, "cartoonize", {"image": frame}) if "cartoonize" in model.commands else \
            model.call(state, next(iter(model.commands)), {"image": frame})
        expected = expected["image"] if isinstance(expected, dict) else expected
        assert psnr(info["frames"][i], np.asarray(expected)[..., :3]) > 28, i
        assert psnr(info["frames"][i], frame) < psnr(info["frames"][i], np.asarray(expected)[..., :3])
    # plain progress lines when stderr is not a terminal
    assert "\r" not in r.stderr and "100% 24/24 frames" in r.stderr and "frames/s" in r.stderr


def _clip_with_audio(path: Path, frames: int = 30, fps: int = 10) -> None:
    """vtest.avi's first frames with a 440 Hz tone, as an mp4 with AAC audio."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = 768, 576, "yuv420p"
        a = c.add_stream("aac", rate=44100)
        a.layout = "mono"
        for i, rgb in enumerate(vtest_frames(frames)):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            for p in v.encode(f):
                c.mux(p)
        samples = np.sin(2 * np.pi * 440 * np.arange(44100 * frames // fps) / 44100).astype(np.float32)
        for k in range(0, len(samples), 1024):
            chunk = samples[k:k + 1024]
            af = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            af.sample_rate, af.pts = 44100, k
            for p in a.encode(af):
                c.mux(p)
        for s in (v, a):
            for p in s.encode():
                c.mux(p)


def test_render_keeps_the_audio_and_records_every_result(tmp_path):
    clip = tmp_path / "clip.mp4"
    _clip_with_audio(clip)
    src = video_info(clip)
    out, rec = tmp_path / "out.mp4", tmp_path / "results.jsonl"
    r = cli(clip, "--adapters", FIXTURE_ADAPTERS, "--model", "identity", "--backend", "local", "-o", out,
            "--record", rec)
    assert r.returncode == 0, r.stderr
    info = video_info(out)
    assert len(info["frames"]) == len(src["frames"]) == 30
    assert info["audio_packets"] == src["audio_packets"] > 0  # copied, packet for packet
    assert "audio copied" in r.stderr
    lines = [json.loads(line) for line in rec.read_text().splitlines()]
    assert [x["frame"] for x in lines] == list(range(30))
    assert [x["time"] for x in lines] == pytest.approx([i / 10 for i in range(30)])
    assert all(x["outputs"] == {"label": "identity"} for x in lines)  # the picture is left out


def test_render_an_image_folder_to_frames_and_csv(tmp_path):
    from skimage import data

    folder = tmp_path / "in"
    folder.mkdir()
    for name, img in (("a_astronaut.png", data.astronaut()), ("b_chelsea.png", data.chelsea()),
                      ("c_coffee.png", data.coffee())):
        cv2.imwrite(str(folder / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    out, rec = tmp_path / "faces", tmp_path / "faces.csv"
    r = cli(folder, "--model", "haar_faces", "-o", out, "--record", rec)
    assert r.returncode == 0, r.stderr
    written = sorted(out.glob("frame_*.png"))
    assert [p.name for p in written] == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]
    rows = list(csv.DictReader(rec.open()))
    assert [int(r["frame"]) for r in rows] == [0, 1, 2]
    assert int(float(rows[0]["count"])) == 1 and json.loads(rows[0]["boxes"])  # the astronaut's face
    # no picture output: the boxes are drawn onto the input frame
    astronaut = cv2.cvtColor(cv2.imread(str(written[0])), cv2.COLOR_BGR2RGB)
    assert astronaut.shape == data.astronaut().shape
    assert np.abs(astronaut.astype(int) - data.astronaut()).max() > 100  # something was drawn
    assert np.mean(np.abs(astronaut.astype(int) - data.astronaut())) < 5  # but only a box


def test_interrupted_render_leaves_a_playable_partial_file_and_no_output(tmp_path):
    out = tmp_path / "long.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "runway_bridge", "render", str(VTEST), "--model", "cartoon",
                             "-o", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = tmp_path / "long.partial.mp4"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not partial.exists() or partial.stat().st_size < 20000):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not out.exists()
    assert "Stopped after" in err and str(partial) in err
    frames = video_info(partial)["frames"]
    assert 0 < len(frames) < 795 and frames[0].shape == (576, 768, 3)


def test_progress_bar_on_a_terminal(tmp_path):
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "runway_bridge", "render", str(VTEST), "--model", "cartoon",
                             "-o", str(tmp_path / "o.mp4"), "--frames", "12"], cwd=ROOT,
                            stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(120)
    os.close(leader)
    text = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, text
    assert "\r[" in text and "#" in text and "ETA" in text and "12/12 frames" in text


def test_render_errors_say_what_to_do(tmp_path):
    r = cli(tmp_path / "missing.mp4", "--model", "cartoon", "-o", tmp_path / "o.mp4")
    assert r.returncode != 0 and "does not exist" in r.stderr
    r = cli(VTEST, "--model", "digits_vae", "-o", tmp_path / "o.mp4")
    assert r.returncode != 0 and "takes no image" in r.stderr
    (tmp_path / "notes.txt").write_text("hello")
    r = cli(tmp_path / "notes.txt", "--model", "cartoon", "-o", tmp_path / "o.mp4")
    assert r.returncode != 0 and "cannot read" in r.stderr
    r = cli(VTEST, "--model", "cartoon", "-o", tmp_path / "o.mp4", "--record", tmp_path / "r.xml")
    assert r.returncode != 0 and ".jsonl or .csv" in r.stderr


def test_serve_records_every_result_of_a_live_model(daemon, tmp_path, astronaut):
    from conftest import data_uri, jpeg

    jsonl, table = tmp_path / "live.jsonl", tmp_path / "live.csv"
    d = daemon("haar_faces", "cartoon", args=["--record", f"haar_faces={jsonl}", "--record", f"cartoon={table}"])
    for _ in range(3):
        status, _, body = d.post("/v1/models/haar_faces/query", {"image": data_uri(jpeg(astronaut))})
        assert status == 200 and body["count"] == 1
    status, _, _ = d.post("/v1/models/cartoon/query", {"image": data_uri(jpeg(astronaut))})
    assert status == 200
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(lines) == 3 and all(x["outputs"]["count"] == 1 and len(x["outputs"]["boxes"]) == 1 for x in lines)
    assert 0 <= lines[0]["time"] <= lines[1]["time"] <= lines[2]["time"]
    rows = list(csv.reader(table.open()))
    assert rows == [["frame", "time"], rows[1]] and len(rows) == 2  # the picture itself is left out
    d.stop()
    r = subprocess.run([sys.executable, "-m", "runway_bridge", "serve", "--record", "haar_faces=out.txt"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "MODEL=FILE.jsonl" in r.stderr
