"""OSC: pure codec golden tests, then the real daemon against liblo's oscsend/oscdump as the peer."""

from __future__ import annotations

import json
import re
import socket
import struct
import subprocess
import time

import cv2
import numpy as np
import pytest
from liblo_peer import OscDump, oscsend
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from runway_bridge.transports import _osc_codec as codec
from runway_bridge.types import Blob

from conftest import data_uri, decode_uri, http, jpeg

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

    # another model answers at /<model>/query; its image output comes whole, far over 1,400 bytes
    oscsend(d.osc_port, "/cartoon/query", "s", small_face_query(astronaut))
    cartoon = peer.wait(lambda: peer.strings("/cartoon/data"))[0]
    assert decode_uri(cartoon["image"]).shape[:2] == (160, 160) and len(cartoon["image"]) > 1400

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


# -- whole JSON strings, to peers built the way oscP5 and Max are -----------------------------------


class Peer:
    """An OSC peer on plain UDP sockets, speaking through python-osc (not the daemon's codec).

    `listen` is the socket replies arrive on, with a 4 MB buffer (oscP5 with setDatagramSize);
    `send_from` is the socket it sends from: the same one (oscP5) or an ephemeral one (Max's udpsend).
    """

    def __init__(self, same_port: bool, bind: str = "127.0.0.1"):
        self.listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.listen.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.listen.bind((bind, 0))
        self.port = self.listen.getsockname()[1]
        self.send_from = self.listen if same_port else socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if not same_port:
            self.send_from.bind((bind, 0))
        self.got: list[tuple[int, OscMessage]] = []

    def send(self, to: tuple, address: str, *args) -> None:
        b = OscMessageBuilder(address)
        for a in args:
            b.add_arg(a)
        self.send_from.sendto(b.build().dgram, to)

    def receive(self, address: str, timeout: float = 15, n: int = 1) -> list[OscMessage]:
        deadline = time.monotonic() + timeout
        while len(hits := [m for _, m in self.got if m.address == address]) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {address} within {timeout} s; got {[m.address for _, m in self.got]}")
            self.listen.settimeout(left)
            try:
                data = self.listen.recv(1 << 17)
            except TimeoutError:
                continue
            for m in OscPacket(data).messages:
                self.got.append((len(data), m.message))
        return hits

    def close(self) -> None:
        self.listen.close()
        if self.send_from is not self.listen:
            self.send_from.close()


@pytest.fixture
def peers():
    made: list[Peer] = []

    def make(same_port: bool, bind: str = "127.0.0.1") -> Peer:
        made.append(Peer(same_port, bind))
        return made[-1]

    yield make
    for p in made:
        p.close()


def test_an_oscp5_style_peer_gets_the_whole_json_on_its_own_port(daemon, peers, astronaut):
    peer = peers(same_port=True)
    d = daemon("cartoon", osc=True, args=["--osc-reply-port", str(peer.port)])
    peer.send(("127.0.0.1", d.osc_port), "/server/connect")  # no port: the reply port, which it listens on
    peer.send(("127.0.0.1", d.osc_port), "/query", small_face_query(astronaut))
    (data,) = peer.receive("/data")
    size = next(n for n, m in peer.got if m is data)
    out = json.loads(data.params[0])
    assert size > 1400 and decode_uri(out["image"]).shape[:2] == (160, 160)


def test_a_max_style_peer_sends_from_an_ephemeral_port_and_hears_on_its_reply_port(daemon, peers, astronaut):
    peer = peers(same_port=False)
    d = daemon("haar_faces", "cartoon", osc=True)
    to = ("127.0.0.1", d.osc_port)
    peer.send(to, "/server/connect", peer.port)
    peer.send(to, "/cartoon/query", small_face_query(astronaut))
    (data,) = peer.receive("/cartoon/data")
    assert decode_uri(json.loads(data.params[0])["image"]).shape[:2] == (160, 160)
    peer.send(to, "/query", "{broken")
    (err,) = peer.receive("/error")
    assert "not JSON" in json.loads(err.params[0])["error"]


def test_data_over_the_udp_limit_says_so_on_error(daemon, oscdump):
    noise = np.random.default_rng(7).integers(0, 256, (500, 500, 3), np.uint8)
    query = json.dumps({"image": data_uri(jpeg(noise, 10))})
    assert len(query) < 45_000  # the query fits; the inverted noise, re-encoded at full quality, does not
    d = daemon("kitchen_sink", "haar_faces", osc=True)
    peer = oscdump()
    oscsend(d.osc_port, "/server/connect", "i", peer.port)
    oscsend(d.osc_port, "/kitchen_sink/query", "s", query)
    data = peer.wait(lambda: peer.strings("/data"))[0]  # kitchen_sink is the default model: plain /data
    assert data["image"].startswith("omitted: jpeg image of")
    err = peer.wait(lambda: peer.strings("/error"))[0]
    assert err["status"] == 413 and "over the 65507-byte limit" in err["error"] and "HTTP or WebSocket" in err["error"]


# -- hostile packets -----------------------------------------------------------------------------------


def _bundle(*elements: bytes) -> bytes:
    return b"#bundle\0" + b"\0" * 8 + b"".join(len(e).to_bytes(4, "big") + e for e in elements)


def test_decoder_reads_messages_and_bundles_and_refuses_what_is_malformed():
    from runway_bridge.transports._osc_decode import decode_packet

    m = codec.message("/query", ["{}", 3, 1.5, b"ab"])
    assert decode_packet(m) == [("/query", ("{}", 3, 1.5, b"ab"))]
    assert [x.address for x in decode_packet(_bundle(m, _bundle(codec.message("/info")), m))] == ["/query", "/info", "/query"]
    deep = m
    for _ in range(9):
        deep = _bundle(deep)
    with pytest.raises(ValueError, match="nest deeper than 8"):
        decode_packet(deep)
    with pytest.raises(ValueError, match="more than 256 messages"):
        decode_packet(_bundle(*[codec.message("/info")] * 300))
    with pytest.raises(ValueError, match="unsupported OSC type tag 'x'"):
        decode_packet(codec.osc_string("/a") + codec.osc_string("," + "x" * 60_000))
    for bad, words in [(b"/a\0\0,i\0\0\0", "ends inside argument 1"), (b"/abc", "no NUL"),
                       (_bundle(b"/a\0\0")[:-2], "element says"), (b"\xff\xfe\0\0", "neither an OSC message"),
                       (b"/\xff\0\0", "not UTF-8"), (b"/a\0\0,b\0\0\0\0\0\x09ab", "blob argument 1 says 9 bytes")]:
        with pytest.raises(ValueError, match=words):
            decode_packet(bad)


def test_pattern_addresses_and_hostile_packets_get_errors_fast_and_the_daemon_serves_on(daemon, peers, astronaut):
    peer = peers(same_port=False)
    d = daemon("haar_faces", osc=True)
    to = ("127.0.0.1", d.osc_port)
    peer.send(to, "/server/connect", peer.port)
    started = time.monotonic()
    peer.send(to, "/" + "*" * 100)  # python-osc's pattern matching backtracked on this for minutes
    peer.send(to, "/query*", "{}")
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deep = codec.message("/info")
    for _ in range(2000):
        deep = _bundle(deep)
    raw.sendto(deep[:65000], to)
    raw.sendto(codec.osc_string("/query") + codec.osc_string("," + "x" * 60_000), to)
    raw.close()
    errors = [json.loads(m.params[0])["error"] for m in peer.receive("/error", n=4)]
    assert sum("patterns" in e and "not supported" in e for e in errors) == 2, errors
    assert any("bundles nest deeper" in e or "element says" in e for e in errors)
    assert any("unsupported OSC type tag" in e for e in errors)
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(300):  # each is answered, but the log gets a few lines, not 300 tracebacks
        flood.sendto(b"garbage %d" % i, to)
    flood.close()
    peer.receive("/error", n=204)  # UDP: under load the kernel may drop some of the 300 answers
    peer.send(to, "/query", small_face_query(astronaut))
    assert json.loads(peer.receive("/data")[0].params[0])["count"] == 1
    assert time.monotonic() - started < 30  # minutes before the fix; seconds on a loaded box now
    assert d.output().count("Unhandled parameter type") == 0 and d.output().count("OSC from") <= 10


def lan_address() -> str | None:
    """This machine's first non-loopback IPv4 address (from `ip`), to send from as a LAN peer would."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return None
    found = [a for a in re.findall(r"inet (\S+?)/", out) if not a.startswith("127.")]
    return found[0] if found else None


def test_senders_outside_loopback_need_osc_allow(daemon, peers, astronaut):
    lan = lan_address()
    if lan is None:
        pytest.skip("this machine has no non-loopback IPv4 address to send from")
    query = small_face_query(astronaut)
    for allow, heard in (([], False), (["--osc-allow", f"{lan}/32"], True)):
        d = daemon("haar_faces", osc=True, token="tok-osc-9f1c", args=["--host", "0.0.0.0", *allow])
        peer = peers(same_port=False, bind=lan)
        peer.send((lan, d.osc_port), "/server/connect", peer.port)
        peer.send((lan, d.osc_port), "/query", query)
        if heard:
            assert json.loads(peer.receive("/data")[0].params[0])["count"] == 1
        else:
            with pytest.raises(AssertionError, match="no /data"):
                peer.receive("/data", timeout=2)
            metrics = http("GET", d.url + "/metrics", headers={"Authorization": "Bearer tok-osc-9f1c"})[2].decode()
            assert 'runway_bridge_osc_datagrams_total{fate="refused"} 2.0' in metrics
            assert "refused: not loopback and not in --osc-allow" in d.output()
        # loopback is always heard
        local = peers(same_port=False)
        local.send(("127.0.0.1", d.osc_port), "/server/connect", local.port)
        local.send(("127.0.0.1", d.osc_port), "/query", query)
        assert json.loads(local.receive("/data")[0].params[0])["count"] == 1
        d.stop()


# -- one bundle per result (TouchDesigner) --------------------------------------------------------------


HAAR = {"boxes": {"name": "boxes", "type": "array", "itemType": {"type": "image_bounding_box"}},
        "count": {"name": "count", "type": "number"}}


def _osc(address: str, tags: str, *values) -> bytes:
    """An OSC message written out independently of the daemon's codec (struct, OSC 1.0 padding)."""
    def pad(b: bytes) -> bytes:
        return b + b"\0" * (4 - len(b) % 4)
    body = b"".join(struct.pack(">i" if t == "i" else ">f", v) for t, v in zip(tags, values, strict=True))
    return pad(address.encode()) + pad(("," + tags).encode()) + body


def test_one_result_is_exactly_one_bundle():
    from runway_bridge.transports import _osc_bundle as bundling

    outputs = {"boxes": [[0.25, 0.5, 0.75, 1.0]], "count": 1}
    numbers = codec.result_numbers("haar_faces", outputs, HAAR, 1400 - bundling.BUNDLE_OVERHEAD)
    numbers += bundling.result_channels("/haar_faces", fps=30.0, latency_ms=12.5, frame=7, dropped=2,
                                        found=bundling.found_count(outputs, HAAR))
    (packet,) = bundling.bundles(numbers, 1400)
    elements = [
        _osc("/haar_faces/boxes", "ffff", 0.25, 0.5, 0.75, 1.0),
        _osc("/haar_faces/boxes/count", "i", 1),
        _osc("/haar_faces/boxes/0", "ffff", 0.25, 0.5, 0.75, 1.0),
        _osc("/haar_faces/count", "f", 1.0),
        _osc("/haar_faces/result/fps", "f", 30.0),
        _osc("/haar_faces/result/latency", "f", 12.5),
        _osc("/haar_faces/result/frame", "i", 7),
        _osc("/haar_faces/result/dropped", "i", 2),
        _osc("/haar_faces/result/found", "i", 1),
    ]
    want = b"#bundle\0" + (1).to_bytes(8, "big") + b"".join(len(e).to_bytes(4, "big") + e for e in elements)
    assert packet == want
    assert _osc("/haar_faces/result/found", "i", 1).hex() == (
        "2f686161725f66616365732f726573756c742f666f756e6400000000" "2c690000" "00000001")


def test_a_result_over_the_limit_is_split_into_few_bundles_of_whole_messages():
    from pythonosc.osc_bundle import OscBundle

    from runway_bridge.transports import _osc_bundle as bundling

    rng = np.random.default_rng(3)
    outputs = {"landmarks": [rng.random((478, 2)).tolist() for _ in range(2)], "boxes": [[0, 0, 1, 1]] * 2}
    numbers = codec.result_numbers("face_mesh", outputs, FACE_MESH, 1400 - bundling.BUNDLE_OVERHEAD)
    packets = bundling.bundles(numbers, 1400)
    assert all(len(p) <= 1400 for p in packets) and len(packets) < len(numbers)
    got = []
    for p in packets:
        b = OscBundle(p)
        got += [b.content(i).dgram for i in range(b.num_contents)]
    assert got == numbers  # every message whole, in order
    for p, nxt in zip(packets, packets[1:], strict=False):  # greedy: the next message did not fit
        assert len(p) + 4 + len(OscBundle(nxt).content(0).dgram) > 1400
    assert np.array_equal(reassemble(got, "/face_mesh/landmarks/1"), np.float32(outputs["landmarks"][1]).ravel())


def test_push_targets_get_one_datagram_per_result(daemon, astronaut):
    target = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target.bind(("127.0.0.1", 0))
    target.settimeout(20)
    d = daemon("haar_faces", osc=True, args=["--osc-target", f"127.0.0.1:{target.getsockname()[1]}"])
    for n in range(2):
        status, _, body = http("POST", d.url + "/query", {"image": data_uri(jpeg(astronaut))})
        assert status == 200 and body["count"] == 1
        packet = target.recv(65536)
        assert packet.startswith(b"#bundle\0")
        msgs = [m.message for m in OscPacket(packet).messages]
        addresses = [m.address for m in msgs]
        assert addresses == ["/haar_faces/boxes", "/haar_faces/boxes/count", "/haar_faces/boxes/0", "/haar_faces/count",
                             "/haar_faces/result/fps", "/haar_faces/result/latency", "/haar_faces/result/dropped",
                             "/haar_faces/result/found"]
        assert np.allclose(msgs[0].params, body["boxes"][0], atol=1e-5)
        values = {m.address.rsplit("/", 1)[1]: m.params[0] for m in msgs[4:]}
        assert values["found"] == 1 and values["dropped"] == 0 and values["latency"] > 0
        assert (values["fps"] > 0) == (n == 1)  # a rate needs two results
    target.settimeout(0.5)
    with pytest.raises(TimeoutError):  # nothing else: one datagram per result
        target.recv(65536)
    target.close()
