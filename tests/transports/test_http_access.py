"""Issue 10.5: no web page can drive the daemon. Host allow-list (DNS rebinding), Origin policy on
every route and on WebSocket/Socket.IO handshakes, CORS that names allowed origins, JSON content
types from browsers. Real HTTP over sockets and urllib; the browser end is tests/browser/test_cross_origin.py."""

from __future__ import annotations

import asyncio
import base64
import os
import socket

import aiohttp
import pytest

from conftest import data_uri, http, jpeg, launch_daemon

EVIL = "http://evil.example"


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    server = launch_daemon(tmp_path_factory.mktemp("access"), "kitchen_sink",
                           args=["--allow-origin", "https://editor.p5js.org", "--allow-host", "studio.example"])
    yield server
    server.stop()


def _raw(port: int, request: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def test_a_page_on_another_origin_cannot_start_stop_query_or_read(d, astronaut):
    img = {"image": data_uri(jpeg(astronaut))}
    bad = {"Origin": EVIL, "Content-Type": "application/json"}
    for method, path, body in [("POST", "/v1/models/haar_faces/start", {}), ("POST", "/v1/models/kitchen_sink/stop", {}),
                               ("POST", "/v1/models/kitchen_sink/source", {"source": "0"}), ("GET", "/data", None),
                               ("GET", "/v1/models", None), ("POST", "/query", img), ("GET", "/info", None),
                               ("POST", "/v1/model_sessions", {"modelVersionId": 1}), ("GET", "/v1/sources", None)]:
        status, headers, out = http(method, d.url + path, body, headers=bad)
        assert status == 403 and "--allow-origin http://evil.example" in out["error"], (path, status, out)
        assert "Access-Control-Allow-Origin" not in headers, path
    assert d.state("kitchen_sink") == "RUNNING" and d.state("haar_faces") == "STOPPED"


def test_cors_names_the_allowed_origin_never_star(d):
    for origin in ("https://editor.p5js.org", "http://localhost:5500", "http://127.0.0.1:8080", f"http://127.0.0.1:{d.port}"):
        status, headers, _ = d.get("/error", headers={"Origin": origin})
        assert status == 200 and headers["Access-Control-Allow-Origin"] == origin and "Origin" in headers["Vary"]
    status, headers, _ = d.get("/error")  # curl, Processing: no Origin, no CORS needed
    assert status == 200 and "Access-Control-Allow-Origin" not in headers
    # the package's static files stay readable from anywhere (no secrets in them)
    status, headers, _ = d.get("/client/runway-bridge.js", headers={"Origin": EVIL})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"


def test_file_pages_and_sandboxed_iframes_send_origin_null_and_are_refused_by_default(d):
    status, _, out = d.get("/data", headers={"Origin": "null"})
    assert status == 403 and "--allow-origin null" in out["error"]


def test_preflight_is_refused_for_other_origins_and_allows_private_network_for_allowed_ones(d):
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    status, headers, _ = http("OPTIONS", d.url + "/v1/models/kitchen_sink/stop", headers={"Origin": EVIL, **ask})
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    status, headers, _ = http("OPTIONS", d.url + "/v1/models/kitchen_sink/stop", headers={
        "Origin": "https://editor.p5js.org", "Access-Control-Request-Private-Network": "true", **ask})
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "https://editor.p5js.org"
    assert headers["Access-Control-Allow-Private-Network"] == "true" and "POST" in headers["Access-Control-Allow-Methods"]


def test_dns_rebinding_host_names_are_refused(d):
    reply = _raw(d.port, b"GET /v1/models HTTP/1.1\r\nHost: attacker.example:%d\r\nConnection: close\r\n\r\n" % d.port)
    assert reply.startswith(b"HTTP/1.1 403") and b"--allow-host attacker.example" in reply
    for host in (b"studio.example", b"localhost", b"127.0.0.1", b"[::1]", b"app.localhost"):
        reply = _raw(d.port, b"GET /error HTTP/1.1\r\nHost: " + host + b":1\r\nConnection: close\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200"), (host, reply[:200])


def test_browsers_must_send_json_as_json(d):
    """A "simple" request (text/plain, no preflight) from a page cannot start or stop models."""
    ok = {"Origin": "http://localhost:5500"}
    status, _, out = http("POST", d.url + "/v1/models/haar_faces/start", b"{}", headers={**ok, "Content-Type": "text/plain"})
    assert status == 415 and "application/json" in out["error"]
    assert d.state("haar_faces") == "STOPPED"
    # p5's httpPost(url, 'json', "<a string>") sends text/plain: /query takes it
    status, _, out = http("POST", d.url + "/query", b'{"image": "x"}', headers={**ok, "Content-Type": "text/plain"})
    assert status == 400 and "image" in out["error"]
    # clients that are not browsers keep sending JSON under any type (curl -d, urllib)
    assert http("POST", d.url + "/v1/models/kitchen_sink/start?wait=1", b"{}",
                headers={"Content-Type": "application/x-www-form-urlencoded"})[0] == 200


def test_websocket_and_socketio_handshakes_check_the_origin(d):
    async def main():
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await s.ws_connect(f"{d.url}/v1/models/kitchen_sink/stream", headers={"Origin": EVIL})
            assert e.value.status == 403
            ws = await s.ws_connect(f"{d.url}/v1/models/kitchen_sink/stream", headers={"Origin": "http://localhost:1"})
            await ws.close()
            async with s.get(f"{d.url}/socket.io/?EIO=4&transport=polling", headers={"Origin": EVIL}) as r:
                assert r.status == 403
            async with s.get(f"{d.url}/socket.io/?EIO=4&transport=polling", headers={"Origin": "http://localhost:1"}) as r:
                assert r.status == 200

    asyncio.run(main())


def test_the_token_lets_any_origin_in(tmp_path):
    token = base64.urlsafe_b64encode(os.urandom(12)).decode()
    srv = launch_daemon(tmp_path, "kitchen_sink", token=token)
    try:
        ask = {"Origin": EVIL, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
        status, headers, _ = http("OPTIONS", srv.url + "/v1/models", headers=ask)
        assert status == 204 and headers["Access-Control-Allow-Origin"] == EVIL
        status, headers, _ = srv.get("/v1/models", headers={"Origin": EVIL, "Authorization": f"Bearer {token}"})
        assert status == 200 and headers["Access-Control-Allow-Origin"] == EVIL
        assert srv.get("/v1/models", headers={"Origin": EVIL, "Authorization": "Bearer wrong"})[0] == 403
    finally:
        srv.stop()


@pytest.mark.parametrize("host, ok", [
    ("127.0.0.1:8000", True), ("[::1]:8000", True), ("localhost", True), ("LOCALHOST.:8000", True),
    ("sketch.localhost:8000", True), ("10.0.0.7:8000", True), ("mybox:8000", True), ("", True),
    ("evil.example", False), ("127.0.0.1.nip.io:8000", False), ("studio.example:1", True), ("a.studio.example", False),
])
def test_host_allow_list(host, ok):
    from runway_bridge.access import Access

    assert Access(allow_hosts=["studio.example"]).host_allowed(host) is ok


@pytest.mark.parametrize("origin, ok", [
    ("http://localhost:5500", True), ("http://127.0.0.1", True), ("https://[::1]:3000", True),
    ("http://app.localhost:1", True), ("http://127.0.0.1:8000", True), ("null", False),
    ("http://localhost.evil.example", False), ("https://editor.p5js.org", True), ("https://p5js.org", False),
    ("https://x.glitch.me", True), ("chrome-extension://abc", False), ("http://10.0.0.7:8000", True),
    ("http://10.0.0.8:8000", False),
])
def test_origin_policy(origin, ok):
    from runway_bridge.access import Access

    policy = Access(allow_origins=["https://editor.p5js.org", "https://*.glitch.me"])
    assert policy.origin_allowed(origin, "10.0.0.7:8000") is ok  # the last two: same origin, or not
