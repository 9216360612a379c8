"""Socket.IO 2.x clients (Engine.IO 3), as every Runway example bundled: the real npm
socket.io-client@2.5.0 in Node, beside 4.x on the same daemon, the old port 3000 (here: a free
one), and the Engine.IO 3 payload codec on its own."""

from __future__ import annotations

import json
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from test_socketio import CLIENT_JS, NODE, NODE_DIR, covers_face, jpeg, node, of  # noqa: F401

from runway_bridge.transports import _engineio3 as e3

from conftest import free_port, launch_daemon, wait_http

needs_v2 = pytest.mark.skipif(
    NODE is None or not (NODE_DIR / "node_modules" / "socket.io-client-v2").is_dir(),
    reason="needs node and socket.io-client@2 (npm alias socket.io-client-v2): run `npm ci` in tests/node")


@pytest.fixture(scope="module")
def daemon():
    d = launch_daemon(Path(tempfile.mkdtemp(prefix="sio2-")), "haar_faces", "identity",
                      args=["--backend", "identity=local"])
    yield d
    d.stop()


def v2(plan: dict) -> list[dict]:
    return node({"client": "v2", **plan})


@needs_v2
@pytest.mark.parametrize("transports", [["polling"], ["websocket"], None], ids=["polling", "websocket", "upgrade"])
def test_runway_sketch_with_socketio_client_2(daemon, jpeg, transports):  # noqa: F811
    """What Runway's p5.js examples do: connect, get ``info``, emit ``query`` with a data-URI JPEG,
    read ``data``; a bad query gets ``error`` and the sketch is served on."""
    opts = {"transports": transports} if transports else {}
    events = v2({"url": f"{daemon.url}/", "jpeg": str(jpeg), "frames": 2, "send": "datauri", "options": opts,
                 "malformed": [{}], "after_malformed": True})
    assert [e["event"] for e in events[:2]] == ["connect", "info"], events[:3]
    info = of(events, "info")[0]
    assert info["inputs"][0]["name"] == "image" and info["outputs"][0]["name"] == "boxes"
    assert info["_meta"]["model"] == "haar_faces"
    results = of(events, "data")
    assert [d["_meta"]["frame"] for d in results] == [0, 1, "after"]
    assert all(covers_face(d["boxes"][0]) for d in results)
    assert "missing input 'image'" in of(events, "error")[0]["error"]
    done = of(events, "done")[0]["transport"]
    assert done == (transports[0] if transports else "websocket")


@needs_v2
@pytest.mark.parametrize("options", [{"transports": ["polling"]}, {"transports": ["polling"], "forceBase64": True},
                                     {"transports": ["websocket"]}], ids=["binary-payload", "b64", "websocket"])
def test_v2_bytes_in_and_binary_outputs_on_a_model_namespace(daemon, jpeg, options):  # noqa: F811
    """Buffers up (binary attachments), JPEG bytes down (``binary=1``), on the namespace ``/identity``
    whose query string reaches the connect handler as it does for 4.x."""
    events = v2({"url": f"{daemon.url}/identity", "jpeg": str(jpeg), "frames": 2, "send": "buffer",
                 "options": {**options, "query": {"binary": "1"}}})
    assert of(events, "info")[0]["_meta"]["model"] == "identity" and of(events, "info")[0]["_meta"]["binary"]
    data = of(events, "data")
    assert [d["_meta"]["frame"] for d in data] == [0, 1]
    for d in data:
        assert d["image"]["$head"].startswith("ffd8ff") and d["image"]["$bytes"] > 10_000 and d["label"] == "identity"


@needs_v2
@pytest.mark.parametrize("transports", [["polling"], ["websocket"]], ids=["polling", "websocket"])
def test_v2_sessions_stay_up_across_pings(transports, tmp_path):
    """Engine.IO 3 clients ping and the server answers (4: the other way round): with a 0.5 s
    interval a listener stays connected for 4 s, on both transports."""
    (tmp_path / "ping.toml").write_text("socketio_ping_interval = 0.5\nsocketio_ping_timeout = 1.5\n")
    d = launch_daemon(tmp_path, "identity", args=["--backend", "identity=local", "--config", str(tmp_path / "ping.toml")])
    try:
        events = v2({"url": d.url, "listen_ms": 4000, "options": {"transports": transports}})
        names = [e["event"] for e in events]
        assert names[:2] == ["connect", "info"] and "done" in names, events
        assert "disconnect" not in names[:names.index("done")], events
    finally:
        d.stop()


@needs_v2
def test_v2_refusals_carry_the_message(daemon):
    for url in (f"{daemon.url}/?model=nope", f"{daemon.url}/nope"):
        events = v2({"url": url})
        assert "nope" in of(events, "connect_error")[0]["message"] and not of(events, "info")


@needs_v2
def test_v2_token_in_the_query_string(jpeg):  # noqa: F811
    d = launch_daemon(Path(tempfile.mkdtemp(prefix="sio2-")), "haar_faces", token="s3cret")
    try:
        assert "token" in of(v2({"url": d.url}), "connect_error")[0]["message"]
        ok = v2({"url": f"{d.url}/?token=s3cret", "jpeg": str(jpeg), "frames": 1})
        assert covers_face(of(ok, "data")[0]["boxes"][0])
    finally:
        d.stop()


@needs_v2
def test_a_v2_listener_hears_a_v4_streamer(daemon, jpeg):  # noqa: F811
    """Both generations reach the same handlers: a 2.x client that sends nothing gets the ``data``
    a 4.x client's frames produced, as two 4.x clients would."""
    listener = subprocess.Popen([NODE, str(CLIENT_JS), json.dumps({"client": "v2", "url": daemon.url,
                                                                  "listen_ms": 4000})],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert [json.loads(listener.stdout.readline())["event"] for _ in range(2)] == ["connect", "info"]
        node({"url": daemon.url, "jpeg": str(jpeg), "frames": 3, "send": "buffer"})
        out, err = listener.communicate(timeout=30)
    finally:
        listener.kill()
    heard = of([json.loads(line) for line in out.splitlines()], "data")
    assert heard and heard[-1]["_meta"]["frame"] == 2 and covers_face(heard[-1]["boxes"][0]), err


@needs_v2
def test_the_old_socketio_port_serves_both_generations(jpeg):  # noqa: F811
    """``--socketio-port`` (3000 by default): the same app, so the same routes and middleware."""
    extra = free_port()
    d = launch_daemon(Path(tempfile.mkdtemp(prefix="sio2-")), "haar_faces", args=["--socketio-port", str(extra)])
    try:
        url = f"http://127.0.0.1:{extra}"
        assert wait_http(url + "/healthz", d.proc)
        for client in ("v2", "v4"):
            events = node({"client": client, "url": url, "jpeg": str(jpeg), "frames": 1, "send": "datauri"})
            assert covers_face(of(events, "data")[0]["boxes"][0]), (client, events)
        assert f"Socket.IO, old Runway port  http://127.0.0.1:{extra}" in d.output()
    finally:
        d.stop()


def test_a_busy_socketio_port_is_a_warning_and_no_legacy_ports_skips_it():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        d = launch_daemon(Path(tempfile.mkdtemp(prefix="sio2-")), args=["--socketio-port", str(port)])
        try:
            assert d.get("/healthz")[0] == 200
            assert f"port {port} is busy" in d.output() and "--socketio-port" in d.output()
        finally:
            d.stop()
    free = free_port()
    d = launch_daemon(Path(tempfile.mkdtemp(prefix="sio2-")), args=["--socketio-port", str(free), "--no-legacy-ports"])
    try:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", free), timeout=2).close()
        assert "old Runway port" not in d.output()
    finally:
        d.stop()


# -- the Engine.IO 3 codec against what engine.io-parser 2.x writes ---------------------------
def test_text_payload_lengths_count_utf16_units():
    body = '6:4"é😀"2:40'.encode()  # JavaScript counts the emoji as two units
    packets = e3.decode_payload(body)
    assert [(p.packet_type, p.data) for p in packets] == [(4, '"é😀"'), (4, "0")]
    text, ctype = e3.encode_payload(packets, b64=False)
    assert text == body and ctype.startswith("text/plain")


def test_binary_payload_round_trip_and_base64_fallback():
    from engineio import packet as ep

    packets = [ep.Packet(ep.MESSAGE, '51-["query",{"_placeholder":true,"num":0}]'), ep.Packet(ep.MESSAGE, b"\xff\xd8")]
    body, ctype = e3.encode_payload(packets, b64=False)
    assert ctype == "application/octet-stream"
    assert body.startswith(b"\x00\x04\x03\xff451-") and body.endswith(b"\x01\x03\xff\x04\xff\xd8")
    assert [p.data for p in e3.decode_payload(body)] == [packets[0].data, b"\xff\xd8"]
    text, _ = e3.encode_payload(packets, b64=True)
    assert text.endswith(b"6:b4/9g=")
    assert e3.decode_payload(text)[1].data == b"\xff\xd8"


@pytest.mark.parametrize("body", [b"5:4abc", b"x:4", b"99999999999:4", b"\x00\x09\x09\xffab", b"\x01\xff",
                                  b"1:9", b"6:b4!!!!", b"".join([b"1:2"] * 65)],
                         ids=["short", "nondigit", "long-header", "short-binary", "empty-len", "bad-type", "bad-b64",
                              "too-many"])
def test_malformed_payloads_are_value_errors(body):
    with pytest.raises(ValueError):
        e3.decode_payload(body)


def test_v2_connect_and_error_packets_translate_both_ways():
    assert e3.sio_in("0/identity?binary=1&model=x,") == '0/identity,{"binary": "1", "model": "x"}'
    assert e3.sio_in('2["query",{}]') == '2["query",{}]'
    assert e3.sio_out('0{"sid":"abc"}') == "0" and e3.sio_out('0/identity,{"sid":"abc"}') == "0/identity,"
    assert e3.sio_out('4/nope,{"message":"no model"}') == '4/nope,"no model"'
    assert e3.sio_out('2["data",{}]') == '2["data",{}]'


def test_payload_codec_round_trips_and_refuses_garbage_with_value_errors_only():
    """2,000 seeded random payloads: well-formed ones round-trip (text with astral characters,
    binary, base64), and arbitrary bytes, or well-formed ones cut short, raise only `ValueError`."""
    import random

    from engineio import packet as ep

    rng = random.Random(9)
    alphabet = "a\"{}[],:0é😀\x1e\U0001f3a8"
    for _ in range(1000):
        packets = [ep.Packet(ep.MESSAGE, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))))
                   if rng.random() < 0.3 else
                   ep.Packet(rng.choice([ep.MESSAGE, ep.PING, ep.PONG]), "".join(rng.choices(alphabet, k=rng.randrange(1, 30))))
                   for _ in range(rng.randrange(1, 6))]
        b64 = rng.random() < 0.5
        body, _ = e3.encode_payload(packets, b64)
        assert [(p.packet_type, p.data) for p in e3.decode_payload(body)] == [(p.packet_type, p.data) for p in packets]
        try:
            e3.decode_payload(body[:rng.randrange(len(body))] or b"\x00")
        except ValueError:
            pass
        try:
            e3.decode_payload(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))))
        except ValueError:
            pass
