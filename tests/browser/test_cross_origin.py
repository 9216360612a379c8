"""Issue 10.5 in a real browser: a page from another site cannot drive the daemon.

The "other site" is http://evil.test:<port>, a second HTTP server on this machine that Chromium
resolves to 127.0.0.1 (--host-resolver-rules), so no network is needed and its origin is not a
loopback one. Its page tries what the issue's attack did: start a model (a preflighted JSON fetch
and a "simple" no-cors text/plain one that skips the preflight), open a source, read /data, open
the model WebSocket and a Socket.IO session. The daemon's state proves nothing happened; the same
page succeeds once the daemon is started with --allow-origin for it. DNS rebinding (the attacker's
name pointed at 127.0.0.1 on the daemon's port) meets the Host check.
"""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from .conftest import Daemon
from conftest import free_port

ATTACK = """<!doctype html><meta charset="utf-8"><title>not a Runway sketch</title>
<script>
const D = new URLSearchParams(location.search).get('d');
window.results = {};
async function attempt(name, f) {
  try { window.results[name] = await f(); } catch (e) { window.results[name] = 'blocked: ' + e; }
}
(async () => {
  const json = { 'Content-Type': 'application/json' };
  await attempt('start', async () => (await fetch(D + '/v1/models/haar_faces/start', { method: 'POST', headers: json, body: '{}' })).status);
  await attempt('start_simple', async () => (await fetch(D + '/v1/models/haar_faces/start',
    { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: '{}' })).type);
  await attempt('source', async () => (await fetch(D + '/v1/models/haar_faces/source',
    { method: 'POST', headers: json, body: JSON.stringify({ source: '/etc/passwd' }) })).status);
  await attempt('source_simple', async () => (await fetch(D + '/v1/models/haar_faces/source',
    { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: '{"source": "0"}' })).type);
  await attempt('data', async () => { const r = await fetch(D + '/data'); return r.status + ' ' + await r.text(); });
  await attempt('catalogue', async () => (await fetch(D + '/v1/models')).status);
  await attempt('socketio', async () => (await fetch(D + '/socket.io/?EIO=4&transport=polling')).status);
  await attempt('ws', () => new Promise((resolve) => {
    const ws = new WebSocket(D.replace('http', 'ws') + '/v1/models/haar_faces/stream');
    ws.onopen = () => { ws.close(); resolve('open'); };
    ws.onerror = () => resolve('blocked: error');
  }));
  window.results.done = true;
})();
</script>"""

DONE = {"wait": "window.results && window.results.done", "timeout": 30000}
READ = {"eval": "window.results", "as": "results"}


@pytest.fixture(scope="module")
def evil_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("evil")
    (root / "attack.html").write_text(ATTACK)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://evil.test:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_page_from_another_site_cannot_start_a_model_open_a_source_or_read_data(evil_site, drive):
    d = Daemon([])
    try:
        answer = drive(f"{evil_site}/attack.html?d={d.url}", [DONE, READ], name="cross-origin-refused",
                       use_camera=False, hosts={"evil.test": "127.0.0.1"})
        r = answer["values"]["results"]
        for key in ("start", "source", "data", "catalogue", "socketio", "ws"):
            assert str(r[key]).startswith("blocked"), (key, r)
        assert r["start_simple"] == r["source_simple"] == "opaque"  # sent, unreadable: the daemon must refuse it
        assert d.state("haar_faces") == "STOPPED"
        assert d.get("/v1/sources")[2] == {"sources": [], "captures": []}
    finally:
        d.stop()


def test_dns_rebinding_to_the_daemons_port_meets_the_host_check(drive):
    d = Daemon([])
    try:
        answer = drive(f"http://evil.test:{d.port}/v1/models", [{"eval": "document.body.innerText", "as": "body"}],
                       name="cross-origin-rebinding", use_camera=False, hosts={"evil.test": "127.0.0.1"})
        assert "--allow-host evil.test" in answer["values"]["body"]
    finally:
        d.stop()


def test_the_same_page_works_once_its_origin_is_allowed(evil_site, drive):
    d = Daemon([], extra=["--allow-origin", evil_site])
    try:
        answer = drive(f"{evil_site}/attack.html?d={d.url}", [DONE, READ], name="cross-origin-allowed",
                       use_camera=False, hosts={"evil.test": "127.0.0.1"})
        r = answer["values"]["results"]
        assert r["start"] in (200, 202) and r["catalogue"] == 200 and r["socketio"] == 200 and r["ws"] == "open", r
        assert r["source"] == 403  # allowed origin, but /etc/passwd is no source (no --file-root)
        assert r["data"].startswith(("200", "409"))  # readable by the page now
        d.wait_running("haar_faces")
    finally:
        d.stop()
