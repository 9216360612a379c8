"""OSC: pure codec golden tests, then the real daemon against liblo's oscsend/oscdump as the peer."""

from __future__ import annotations

import json
import socket
import time

import cv2
import numpy as np
import pytest
from liblo_peer import OscDump, oscsend
from pythonosc.osc_message import OscMessage

from runway_bridge.transports import _osc_codec as codec
from runway_bridge.types import Blob

from conftest import data_uri, http, jpeg

FACE_MESH = {
    "landmarks": {"name": "landmarks", "type": "array",
                  "itemType": {"type": "image_landmarks", "length": 478, "labels": [f"p{i}" for i in range(478)]}},
    "boxes": {"name": "boxes", "type": "array", "itemType": {"type": "image_bounding_box"}},
}


def reassemble(datagrams: list[bytes], address: str) -> np.ndarray:
    """Floats at `address`, from one message or its `/part/<k> offset total f...` parts."""
    msgs = [OscMessage(d) for d in datagrams]
    whole = [m for m in msgs if m.address == address]
    if whole:
        return np.array(whole[0].params, np.float32)
    parts = sorted((m for m in msgs if m.address.startswith(address + "/part/")), key=lambda m: m.params[0])
    total = parts[0].params[1]
    out = np.full(total, np.nan, np.float32)
    for k, m in enumerate(parts):
        assert m.address == f"{address}/part/{k}" and m.params[1] == total
        out[m.params[0] : m.params[0] + len(m.params) - 2] = m.params[2:]
    assert not np.isnan(out).any()
    return out


# -- codecs, no I/O ------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1400, 512, 1536, 9216])
@pytest.mark.parametrize("faces", [1, 2])
def test_face_mesh_result_fits_and_reassembles_exactly(limit, faces):
    rng = np.random.default_rng(faces)
    landmarks = [rng.random((478, 2)).tolist() for _ in range(faces)]
    boxes = [[0.1 * i, 0.2, 0.3 + 0.1 * i, 0.4] for i in range(faces)]
    dgrams = codec.result_numbers("face_mesh", {"landmarks": landmarks, "boxes": boxes}, FACE_MESH, limit)
    assert dgrams and max(map(len, dgrams)) <= limit
    want = np.float32(landmarks)
    assert np.array_equal(reassemble(dgrams, "/face_mesh/landmarks"), want.ravel())
    for i in range(faces):
        assert np.array_equal(reassemble(dgrams, f"/face_mesh/landmarks/{i}"), want[i].ravel())
        assert np.array_equal(reassemble(dgrams, f"/face_mesh/boxes/{i}"), np.float32(boxes[i]))
    counts = {m.address: m.params for m in map(OscMessage, dgrams) if m.address.endswith("/count")}
    assert counts == {"/face_mesh/landmarks/count": [faces], "/face_mesh/boxes/count": [faces]}
    # 478 points are too many for per-point addresses; parts hold an even number of floats (x, y together)
    assert not any(OscMessage(d).address.endswith("/p0") for d in dgrams)
    assert all(len(m.params[2:]) % 2 == 0 for m in map(OscMessage, dgrams) if "/part/" in m.address[:-1])
    data, omitted = codec.data_message("/face_mesh/data", {"landmarks": landmarks, "boxes": boxes}, limit, "face_mesh")
    assert len(data) <= limit
    body = json.loads(OscMessage(data).params[0])
    if limit < 9216:
        assert omitted == ["landmarks"] and "/face_mesh/landmarks" in body["landmarks"]
    assert body["boxes"] == boxes


def test_small_outputs_and_named_landmarks():
    labels = ["nose", "left_eye", "right eye"]
    specs = {"landmarks": {"type": "array", "itemType": {"type": "image_landmarks", "length": 3, "labels": labels}},
             "visibility": {"type": "array", "itemType": {"type": "vector", "length": 3}},
             "detected": {"type": "boolean"}, "label": {"type": "text"}, "score": {"type": "number"},
             "point": {"type": "image_point"}, "empty": {"type": "array", "itemType": {"type": "image_bounding_box"}}}
    outputs = {"landmarks": [[[0.5, 0.25], [0.4, 0.2], [0.6, 0.2]]], "visibility": [[1, 0.5, 0]], "detected": True,
               "label": "hello", "score": 3, "point": [0.25, 0.75], "empty": []}
    msgs = [(m.address, m.params) for m in map(OscMessage, codec.result_numbers("pose", outputs, specs, 1400))]
    assert msgs == [
        ("/pose/landmarks", [0.5, 0.25, pytest.approx(0.4), pytest.approx(0.2), pytest.approx(0.6), pytest.approx(0.2)]),
        ("/pose/landmarks/count", [1]),
        ("/pose/landmarks/0", [0.5, 0.25, pytest.approx(0.4), pytest.approx(0.2), pytest.approx(0.6), pytest.approx(0.2)]),
        ("/pose/landmarks/0/nose", [0.5, 0.25]),
        ("/pose/landmarks/0/left_eye", [pytest.approx(0.4), pytest.approx(0.2)]),
        ("/pose/landmarks/0/right_eye", [pytest.approx(0.6), pytest.approx(0.2)]),  # space made safe
        ("/pose/visibility", [1.0, 0.5, 0.0]),
        ("/pose/visibility/count", [1]),
        ("/pose/visibility/0", [1.0, 0.5, 0.0]),
        ("/pose/detected", [1.0]),
        ("/pose/score", [3.0]),
        ("/pose/point", [0.25, 0.75]),
        ("/pose/empty", []),
        ("/pose/empty/count", [0]),
    ]
    assert list(codec.wekinator_floats(outputs, specs)) == [0.5, 0.25, pytest.approx(0.4), pytest.approx(0.2),
                                                             pytest.approx(0.6), pytest.approx(0.2)]
    assert codec.wekinator_floats({"boxes": []}, {"boxes": specs["empty"]}) is None
    assert list(codec.wekinator_floats({"label": "x", "score": 2}, None)) == [2.0]


def test_data_message_never_exceeds_the_limit():
    big = Blob("jpeg", b"\xff\xd8\xff" + bytes(20000))
    small = Blob("png", b"\x89PNG\r\n\x1a\n" + bytes(100))
    data, omitted = codec.data_message("/data", {"image": big, "n": 1}, 1400)
    body = json.loads(OscMessage(data).params[0])
    assert omitted == ["image"] and body["n"] == 1 and body["image"].startswith("omitted: jpeg image of 20003 bytes")
    data, omitted = codec.data_message("/data", {"image": small, "text": "x" * 200}, 1400)
    body = json.loads(OscMessage(data).params[0])
    assert omitted == [] and body["image"].startswith("data:image/png;base64,")
    for limit in (128, 300, 1400):  # however many and however big the outputs, the datagram fits
        outputs = {f"o{i}": "y" * (37 * i) for i in range(40)}
        data, _ = codec.data_message("/some_model/data", outputs, limit)
        assert len(data) <= limit and isinstance(json.loads(OscMessage(data).params[0]), dict)
    err = codec.error_message("/error", "z" * 5000, 400, 1400)
    assert len(err) <= 1400 and json.loads(OscMessage(err).params[0])["status"] == 400


# -- the daemon, with liblo as the independent peer -------------------------------------------------


@pytest.fixture
def oscdump():
    dumps: list[OscDump] = []

    def start() -> OscDump:
        dumps.append(OscDump())
        return dumps[-1]

    yield start
    for d in dumps:
        d.close()


def small_face_query(astronaut) -> str:
    """A 160x160 JPEG of the astronaut: a data URI of ~7 KB, well inside one UDP datagram."""
    return json.dumps({"image": data_uri(jpeg(cv2.resize(astronaut, (160, 160), interpolation=cv2.INTER_AREA)))})


def test_runway_osc_protocol_with_liblo(daemon, oscdump, astronaut):
    d = daemon("haar_faces", "cartoon", osc=True)
    peer = oscdump()
    oscsend(d.osc_port, "/server/connect", "i", peer.port)
    oscsend(d.osc_port, "/query", "s", small_face_query(astronaut))
    data = peer.wait(lambda: peer.strings("/data"))[0]
    assert data["count"] == 1 and len(data["boxes"]) == 1
    x0, y0, x1, y1 = data["boxes"][0]
    assert 0.3 < x0 < x1 < 0.65 and 0.05 < y0 < y1 < 0.45  # the astronaut's face
    box = peer.wait(lambda: peer.messages("/haar_faces/boxes/0"))[0]
    assert box[0] == "ffff" and abs(float(box[1].split()[0]) - x0) < 1e-5
    assert peer.messages("/haar_faces/boxes/count") == [("i", "1")]
    assert peer.messages("/haar_faces/count") == [("f", "1.000000")]

    # another model answers at /<model>/query; its image output is too big for a datagram: a note
    oscsend(d.osc_port, "/cartoon/query", "s", small_face_query(astronaut))
    cartoon = peer.wait(lambda: peer.strings("/cartoon/data"))[0]
    assert cartoon["image"].startswith("omitted: jpeg image of")

    # malformed queries: answered on /error to this peer, never in /data
    oscsend(d.osc_port, "/query", "s", "{not json")
    oscsend(d.osc_port, "/query", "if", 3, 1.5)
    oscsend(d.osc_port, "/query", "s", json.dumps({"image": "data:image/jpeg;base64,AAAA"}))
    oscsend(d.osc_port, "/nobody/query", "s", "{}")
    errors = peer.wait(lambda: (e := peer.strings("/error")) and len(e) >= 3 and peer.strings("/nobody/error") and e)
    text = " | ".join(e["error"] for e in errors)
    assert "not JSON" in text and "one string argument" in text and "int float" in text
    assert any("image" in e["error"] for e in errors) and all(e["status"] == 400 for e in errors)
    assert peer.strings("/nobody/error")[0]["status"] == 404
    assert len(peer.strings("/data")) == 1

    # not OSC at all, the largest datagram loopback carries; 70 KB does not even leave the socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(OSError):
        s.sendto(b"\0" * 70_000, ("127.0.0.1", d.osc_port))
    s.sendto(b"x" * 65507, ("127.0.0.1", d.osc_port))
    s.close()
    peer.wait(lambda: any("not an OSC packet (65507 bytes)" in e["error"] for e in peer.strings("/error")))
    assert "not an OSC packet" in d.output()
    metrics = d.get("/metrics")[2].decode()
    rejected = next(line for line in metrics.splitlines() if line.startswith('runway_bridge_osc_datagrams_total{fate="rejected"}'))
    assert float(rejected.split()[-1]) >= 4

    # the daemon keeps serving; after /server/disconnect nothing more arrives
    oscsend(d.osc_port, "/query", "s", small_face_query(astronaut))
    peer.wait(lambda: len(peer.strings("/data")) == 2)
    oscsend(d.osc_port, "/server/disconnect", "i", peer.port)
    status, _, body = http("POST", d.url + "/query", {"image": data_uri(jpeg(astronaut))})
    assert status == 200 and body["count"] == 1
    time.sleep(0.5)
    assert len(peer.strings("/data")) == 2
    assert d.proc.poll() is None


def test_replies_go_to_the_senders_host_at_the_reply_port(daemon, oscdump, astronaut):
    reply = oscdump()
    d = daemon("haar_faces", osc=True, args=["--osc-reply-port", str(reply.port)])
    oscsend(d.osc_port, "/server/connect")  # no port: the configured reply port, not oscsend's source port
    oscsend(d.osc_port, "/query", "s", small_face_query(astronaut))
    assert reply.wait(lambda: reply.strings("/data"))[0]["count"] == 1
    reply.wait(lambda: reply.messages("/haar_faces/boxes"))


def test_push_targets_and_wekinator_need_no_handshake(daemon, oscdump, astronaut):
    target, target2, wek = oscdump(), oscdump(), oscdump()
    d = daemon("haar_faces", osc=True, args=["--osc-target", f"127.0.0.1:{target.port}",
                                              "--osc-target", f"localhost:{target2.port}",
                                              "--wekinator", f"127.0.0.1:{wek.port}"])
    status, _, body = http("POST", d.url + "/query", {"image": data_uri(jpeg(astronaut))})
    assert status == 200 and body["count"] == 1
    for t in (target, target2):
        box = t.wait(lambda t=t: t.messages("/haar_faces/boxes/0"))[0]
        assert box[0] == "ffff"
        assert not t.messages("/data")  # targets get numbers only (TouchDesigner's OSC In CHOP warns on strings)
    inputs = wek.wait(lambda: wek.messages("/wek/inputs"))[0]
    assert inputs[0] == "ffff"
    assert np.allclose([float(v) for v in inputs[1].split()], body["boxes"][0], atol=1e-5)
