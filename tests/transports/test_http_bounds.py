"""Issues 9.2 and 10.3/10.4/10.7 over HTTP: Runway endpoints uncompressed for clients that cannot
inflate, gzip request bodies bounded and checked after auth and size, hostile JSON as 400s, and
idle, half-sent and slow connections closed. Raw sockets play the clients."""

from __future__ import annotations

import gzip
import json
import socket
import time
import zlib

import pytest

from conftest import data_uri, http, jpeg, launch_daemon, wait_http


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    server = launch_daemon(tmp_path_factory.mktemp("bounds"), "landmarks_478", "kitchen_sink",
                           args=["--idle-timeout", "1", "--body-timeout", "1", "--max-body", str(4 << 20)])
    yield server
    server.stop()


def _exchange(port: int, request: bytes, timeout: float = 20) -> bytes:
    """One request on a fresh connection; everything the server sent until it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def _split(reply: bytes) -> tuple[str, dict, bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return lines[0], headers, body


def test_runway_endpoints_answer_uncompressed_to_processing_which_asks_for_gzip(d, astronaut):
    """RunwayHTTP (OkHttp) sends 'Accept-Encoding: gzip, deflate' itself and then cannot inflate."""
    body = json.dumps({"image": data_uri(jpeg(astronaut))}).encode()
    for path in ("/query", "/v1/models/landmarks_478/query"):
        reply = _exchange(d.port, b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                          b"Accept-Encoding: gzip, deflate\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                          % (path.encode(), d.port, len(body), body))
        status, headers, raw = _split(reply)
        assert status == "HTTP/1.1 200 OK" and "content-encoding" not in headers, headers
        out = json.loads(raw)  # no inflating: it must be plain JSON
        assert len(out["keypoints"]) == 478 and len(raw) > 20_000
    for path in ("/data", "/info", "/error", "/v1/models/landmarks_478/data"):
        reply = _exchange(d.port, b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip, deflate\r\n"
                          b"Connection: close\r\n\r\n" % path.encode())
        status, headers, raw = _split(reply)
        assert status.endswith("200 OK") and "content-encoding" not in headers and json.loads(raw) is not None, path
    # the catalogue (REST; clients that ask for gzip there inflate it) stays compressed
    reply = _exchange(d.port, b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip\r\n"
                      b"Connection: close\r\n\r\n")
    assert _split(reply)[1].get("content-encoding") == "gzip"


def test_gzip_request_bodies_are_inflated(d, astronaut):
    body = json.dumps({"image": data_uri(jpeg(astronaut))}).encode()
    for encoding, packed in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        status, _, out = http("POST", d.url + "/v1/models/landmarks_478/query", packed,
                              headers={"Content-Encoding": encoding, "Content-Type": "application/json"})
        assert status == 200 and len(out["keypoints"]) == 478, (encoding, out)


def test_gzip_bombs_and_bad_gzip_are_refused_without_stalling_the_daemon(d):
    bomb = gzip.compress(b"{" + b" " * (128 << 20) + b"}", 9)  # 128 MiB of JSON in ~130 KB
    assert len(bomb) < 1 << 20
    t0 = time.monotonic()
    status, _, out = http("POST", d.url + "/query", bomb, headers={"Content-Encoding": "gzip"})
    assert status == 413 and "inflates" in out["error"], out
    assert time.monotonic() - t0 < 10
    status, _, out = http("POST", d.url + "/query", b"this is not gzip", headers={"Content-Encoding": "gzip"})
    assert status == 400 and "corrupt" in out["error"]
    status, _, out = http("POST", d.url + "/query", gzip.compress(b'{"image": "x"}')[:-6],
                          headers={"Content-Encoding": "gzip"})
    assert status == 400 and "truncated" in out["error"]
    status, _, out = http("POST", d.url + "/query", b"{}", headers={"Content-Encoding": "br"})
    assert status == 415 and "gzip" in out["error"]
    assert d.get("/healthz")[0] == 200


def test_gzip_bomb_with_a_wrong_token_gets_401_before_any_inflating(tmp_path):
    srv = launch_daemon(tmp_path, token="right-token")
    try:
        bomb = gzip.compress(b"[" * (64 << 20), 9)
        status, _, out = http("POST", srv.url + "/v1/models/kitchen_sink/start", bomb,
                              headers={"Content-Encoding": "gzip", "Authorization": "Bearer wrong"})
        assert status == 401
        status, _, out = http("POST", srv.url + "/v1/models/kitchen_sink/start?token=right-token", bomb,
                              headers={"Content-Encoding": "gzip", "Content-Length": str(len(bomb))})
        assert status == 413  # a 64 MiB body inflated past the 32 MiB limit
    finally:
        srv.stop()


@pytest.mark.parametrize("body, expect", [
    (b"[" * 100_000 + b"]" * 100_000, "deeper than"),
    (b'{"image": ' + b"9" * 5000 + b"}", "digits"),
    (b'{"image": "a\\u0000b"}', "NUL"),
    (b'{"image": "\xff\xfe"}', "UTF-8"),
    (b'{"image": NaN}', "NaN"),
])
def test_hostile_json_is_a_400_not_a_500(d, body, expect):
    status, _, out = http("POST", d.url + "/query", body, headers={"Content-Type": "application/json"})
    assert status == 400 and expect in out["error"], out


def test_lists_where_names_belong_are_400s(d):
    status, _, out = d.post("/v1/models/kitchen_sink/start", {"backend": ["local"]})
    assert status == 400 and "'backend' must be a string" in out["error"]
    status, _, out = d.post("/v1/models/kitchen_sink/source", {"source": ["0"]})
    assert status == 400
    status, _, out = d.get("/v1/models/kitchen_sink/commands/%00")
    assert status in (400, 404) and "error" in out
    assert d.get("/healthz")[0] == 200


def test_idle_and_half_sent_connections_are_closed(d):
    """--idle-timeout 1: a connection that sends nothing, or half a request head, is closed."""
    for first in (b"", b"POST /query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-"):
        with socket.create_connection(("127.0.0.1", d.port), timeout=15) as s:
            s.sendall(first)
            t0 = time.monotonic()
            assert s.recv(1024) == b""  # closed by the server, nothing answered
            assert time.monotonic() - t0 < 10


def test_a_body_that_stops_arriving_gets_408(d):
    """--body-timeout 1: the head is complete, the body announced 1000 bytes and sent 10."""
    with socket.create_connection(("127.0.0.1", d.port), timeout=15) as s:
        s.sendall(b"POST /query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n{\"image\": ")
        t0 = time.monotonic()
        reply = s.recv(65536)
        assert reply.startswith(b"HTTP/1.1 408") and b"did not arrive" in reply
        assert time.monotonic() - t0 < 10
    wait_http(d.url + "/healthz", d.proc)
