"""The Processing examples, tested through the exact messages they send (Processing cannot run here).

pose_osc.pde: its OSC messages are replayed with liblo's `oscsend`, and `oscdump` listens where the
sketch would; the test asserts on what the sketch parses (addresses, argument types and counts,
JSON keys, the skeleton's bones). style_http.pde: its HTTP request (the headers Java's
HttpURLConnection sends plus the ones the sketch sets, the JSON body it builds) is replayed with curl.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from liblo_peer import OscDump, oscsend

from runway_bridge.config import Config

from conftest import ROOT, jpeg

SKETCHES = ROOT / "examples" / "processing"
ARTIFACTS = ROOT / "test-artifacts" / "clients"
POSE = (SKETCHES / "pose_osc" / "pose_osc.pde").read_text()
STYLE = (SKETCHES / "style_http" / "style_http.pde").read_text()


def constants(src: str) -> dict:
    """``final int NAME = 1;`` / ``final String NAME = "x";`` declarations of a sketch."""
    out = {}
    for kind, decls in re.findall(r"^final (int|String|boolean) ([^;]+);", src, re.M):
        for name, value in re.findall(r"(\w+) = (\"[^\"]*\"|[^,]+)", decls):
            out[name] = int(value) if kind == "int" else value.strip('"') if kind == "String" else value == "true"
    return out


def osc_size(line: str) -> int:
    """The datagram size of one `oscdump` line (address, type tags, then the arguments)."""
    _, address, types, *rest = line.split(" ", 3)

    def pad(n: int) -> int:
        return (n // 4 + 1) * 4

    size = pad(len(address.encode())) + pad(1 + len(types))
    assert types.count("s") <= 1 and types in ("s", "") or "s" not in types  # one whole string, or none
    strings = [rest[0][1:-1]] if types == "s" else []
    return size + 4 * sum(t in "if" for t in types) + sum(pad(len(s.encode())) for s in strings)


@pytest.fixture
def astronaut_video(tmp_path, astronaut) -> Path:
    """A short real video (the astronaut photo, 10 frames) for the daemon's own source."""
    path = tmp_path / "astronaut.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, astronaut.shape[1::-1])
    for _ in range(10):
        w.write(cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    w.release()
    return path


def test_pose_sketch_ports_are_the_bridge_defaults():
    c = constants(POSE)
    assert c["BRIDGE_HOST"] == "127.0.0.1"
    assert c["BRIDGE_PORT"] == Config().osc_port == 57100
    assert c["LISTEN_PORT"] == Config().osc_reply_port == 57200
    assert "setDatagramSize(65507)" in POSE  # oscP5 would cut datagrams at 1,536 bytes otherwise
    # what it sends: /server/connect and /server/disconnect, each with its listening port as an int
    assert re.findall(r'new OscMessage\("([^"]+)"\);\s*\n\s*\w+\.add\(LISTEN_PORT\);', POSE) == [
        "/server/connect", "/server/disconnect"]


def test_pose_sketch_receives_what_it_parses(daemon, astronaut_video):
    d = daemon("pose", osc=True, args=["--source", f"pose={astronaut_video}"])
    peer = OscDump()  # where the sketch listens (57200 in the sketch; a free port here)
    try:
        oscsend(d.osc_port, "/server/connect", "i", peer.port)  # connect.add(LISTEN_PORT)
        # the addresses and argument counts the sketch's oscEvent() checks
        handled = dict(re.findall(r'a\.equals\("([^"]+)"\)(?: && m\.typetag\(\)\.length\(\) == (\d+))?', POSE))
        assert set(handled) == {"/pose/landmarks/0", "/pose/visibility/0", "/pose/landmarks/0/nose", "/data",
                                "/error"}
        peer.wait(lambda: all(peer.messages(a) for a in handled if a != "/error"), 60)
        for address, n in handled.items():
            if n:
                types, args = peer.messages(address)[0]
                assert types == "f" * int(n), address
        points = np.array(peer.messages("/pose/landmarks/0")[-1][1].split(), float).reshape(33, 2)
        vis = np.array(peer.messages("/pose/visibility/0")[-1][1].split(), float)
        nose = [float(v) for v in peer.messages("/pose/landmarks/0/nose")[-1][1].split()]
        assert peer.messages("/pose/landmarks/0/nose")[-1][0] == "ff"
        assert np.allclose(points[0], nose, atol=1e-6)  # the named point is point 0 of the array
        assert 0.35 < nose[0] < 0.55 and 0.15 < nose[1] < 0.35  # on the astronaut's face
        assert (vis[:13] > 0.9).all()  # the face and shoulders are in view
        data = peer.strings("/data")[-1]
        assert data["detected"] is True  # data.getBoolean("detected")

        # the numbers fit oscP5's default 1,536-byte buffer (the bridge's 1,400-byte default limit); /data
        # carries the whole JSON, up to the UDP limit, which the sketch's setDatagramSize(65507) reads
        sizes = [osc_size(ln) for ln in peer.lines if "/ready" not in ln and " /data " not in ln]
        assert 300 < max(sizes) <= 1400
        assert 1400 < max(osc_size(ln) for ln in peer.lines if " /data " in ln) <= 65507
        assert len(data["landmarks"][0]) == 33  # whole, not an "omitted: ..." note

        # the sketch's bones are the model's own connections (by label), none missing, none extra
        status, _, model = d.get("/v1/models/pose")
        landmarks = model["manifest"]["commands"][0]["outputs"][0]["itemType"]
        labels = landmarks["labels"]
        bones = re.search(r"BONES = \{(.*?)\};", POSE, re.S).group(1)
        pairs = {frozenset((labels[int(a)], labels[int(b)])) for a, b in re.findall(r"\{(\d+), (\d+)\}", bones)}
        assert pairs == {frozenset(c) for c in landmarks["connections"]}

        draw_like_the_sketch(points, vis, nose, bones)

        # /error carries JSON with "error" (err.getString("error")); it goes to the connected sketch
        oscsend(d.osc_port, "/query", "s", json.dumps({"image": "not an image"}))
        err = peer.wait(lambda: peer.strings("/error"))[0]
        assert isinstance(err["error"], str) and err["status"] == 400

        # exit(): /server/disconnect with the port stops the results
        oscsend(d.osc_port, "/server/disconnect", "i", peer.port)
        time.sleep(0.5)
        before = len(peer.messages("/pose/landmarks/0"))
        time.sleep(1.0)
        assert len(peer.messages("/pose/landmarks/0")) == before
    finally:
        peer.close()


def draw_like_the_sketch(points, vis, nose, bones_src):
    """What draw() would show with these numbers, on the video's frame: test-artifacts/clients/."""
    from skimage import data

    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    h, w = img.shape[:2]
    px = (points * [w, h]).astype(int)
    for a, b in re.findall(r"\{(\d+), (\d+)\}", bones_src):
        a, b = int(a), int(b)
        if vis[a] >= 0.3 and vis[b] >= 0.3:
            cv2.line(img, tuple(px[a]), tuple(px[b]), (128, 255, 0), 3, cv2.LINE_AA)
    for i in np.flatnonzero(vis >= 0.3):
        cv2.circle(img, tuple(px[i]), 4, (60, 60, 255), -1, cv2.LINE_AA)
    cv2.circle(img, (int(nose[0] * w), int(nose[1] * h)), 8, (0, 220, 255), -1, cv2.LINE_AA)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(ARTIFACTS / "processing-pose_osc.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 85])


# -- style_http.pde ----------------------------------------------------------------------------

# What Java 17's HttpURLConnection sends on its own, besides Host and Content-Length.
JAVA_HEADERS = ["User-Agent: Java/17.0.8", "Accept: text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2",
                "Connection: keep-alive"]


def sketch_request(url: str, body: bytes) -> tuple[int, dict]:
    """curl with the sketch's method, headers and body; returns (status, parsed JSON answer)."""
    set_by_sketch = [f"{k}: {v}" for k, v in re.findall(r'setRequestProperty\("([^"]+)", "([^"]+)"\)', STYLE)]
    assert set_by_sketch == ["Content-Type: application/json"]
    method = re.search(r'setRequestMethod\("(\w+)"\)', STYLE).group(1)
    cmd = ["curl", "-sS", "-X", method, url, "--data-binary", "@-", "-H", "Expect:",
           "-w", "\n%{http_code} %{content_type}"]
    for h in JAVA_HEADERS + set_by_sketch:
        cmd += ["-H", h]
    out = subprocess.run(cmd, input=body, capture_output=True, check=True, timeout=60).stdout.decode()
    text, _, tail = out.rpartition("\n")
    code, ctype = tail.split(" ", 1)
    assert ctype.startswith("application/json")
    return int(code), json.loads(text)


def test_style_sketch_request_and_answer(daemon, astronaut):
    c = constants(STYLE)
    assert c["QUERY_URL"] == f"http://127.0.0.1:{Config().port}/v1/models/style_transfer/query"
    d = daemon("style_transfer")
    url = c["QUERY_URL"].replace("http://127.0.0.1:8000", d.url)

    # the body the sketch builds: {"image": "data:image/jpeg;base64,...", "style": "style_3"}, one line
    assert re.findall(r'body\.setString\("(\w+)"', STYLE) == ["image", "style"]
    assert '"data:image/jpeg;base64," + Base64.getEncoder()' in STYLE
    frame = cv2.resize(astronaut, (c["SEND_WIDTH"], c["SEND_HEIGHT"]))
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg(frame, 75)).decode()  # ImageIO's default quality
    body = json.dumps({"image": uri, "style": "style_3"}, separators=(",", ":")).encode()
    status, answer = sketch_request(url, body)
    assert status == 200 and set(answer) == {"image"}

    # what fromDataUri() does: after the comma, base64 of a JPEG that ImageIO reads
    assert answer["image"].startswith("data:image/jpeg;base64,")
    raw = base64.b64decode(answer["image"][answer["image"].index(",") + 1:])
    assert raw[:3] == b"\xff\xd8\xff" and b"\xff\xc2" not in raw[:2000]  # baseline JPEG, not progressive
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (c["SEND_HEIGHT"], c["SEND_WIDTH"], 3)
    assert np.abs(img.astype(int) - cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)).mean() > 20  # it was stylized

    # an unknown style answers 400 with {"error": ...}: the sketch shows that text
    status, answer = sketch_request(url, json.dumps({"image": uri, "style": "style_99"}).encode())
    assert status == 400 and "style" in answer["error"]
    # POST /query (the default model) takes the same request
    status, answer = sketch_request(d.url + "/query", body)
    assert status == 200 and answer["image"].startswith("data:image/jpeg;base64,")
