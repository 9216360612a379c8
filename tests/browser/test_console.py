"""The web console at the daemon's root: catalogue cards, start/stop with options, live results."""

from __future__ import annotations

from .media import FACE, astronaut_frame

STATE = "window.consoleState"

# Records a hash of the image bytes of every frame the page sends over the WebSocket fast path
# (the 4-byte length and JSON header, which hold the changing frame id, are left out).
HOOK_SENT_FRAMES = """(() => {
  window.__sent = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (data instanceof Blob) {
      window.__sent.push(data.arrayBuffer().then((buf) => {
        const bytes = new Uint8Array(buf, 4 + new DataView(buf).getUint32(0, false));
        let h = 2166136261;
        for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 16777619) >>> 0;
        return `${bytes.length}:${h}`;
      }));
    }
    return send.call(this, data);
  };
  return true;
})()"""
SENT_FRAMES = "Promise.all(window.__sent).then((h) => ({n: h.length, distinct: new Set(h).size}))"


def sample_results(expr: str, seconds: float = 3) -> str:
    """A page expression that samples `expr` every 100 ms for `seconds` and returns the distinct values."""
    return f"""new Promise((done) => {{ const seen = new Set(); const t = setInterval(() => {{
        seen.add(JSON.stringify({expr})); }}, 100);
        setTimeout(() => {{ clearInterval(t); done([...seen].map((s) => JSON.parse(s))); }}, {seconds * 1000}); }})"""


def _in_face(box: dict) -> bool:
    cx, cy = (box["x"] + box["width"] / 2) / 640, (box["y"] + box["height"] / 2) / 480
    return FACE[0] < cx < FACE[2] and FACE[1] < cy < FACE[3]


def _wait_results(frames: int = 3) -> dict:
    return {"wait": f"{STATE}.frames >= {frames} && {STATE}.fps > 0 && !{STATE}.error", "timeout": 90000}


def test_console_catalogue_start_stop_and_webcam(bridge_daemon, drive, artifacts):
    answer = drive(bridge_daemon.url + "/", [
        {"wait": "document.querySelectorAll('.card').length >= 10"},
        {"eval": """Object.fromEntries([...document.querySelectorAll('.card')].map((c) => [c.dataset.id,
                    c.innerText]))""", "as": "cards"},
        {"screenshot": str(artifacts / "console-catalogue.jpg")},
        # haar_faces runs since launch: webcam in, boxes out
        {"click": ".card[data-id=haar_faces]"},
        {"wait": "!document.querySelector('#m-run').hidden"},
        {"eval": HOOK_SENT_FRAMES, "as": "hooked"},
        {"click": "#m-go"},
        _wait_results(),
        {"eval": sample_results(f"{STATE}.results.map((r) => r.box)"), "as": "boxes_seen"},
        {"eval": SENT_FRAMES, "as": "sent"},
        {"eval": f"""({{box: {STATE}.results[0].box, fps: document.querySelector('#s-fps').textContent,
                     latency: document.querySelector('#s-latency').textContent,
                     dropped: document.querySelector('#s-dropped').textContent,
                     endpoints: document.querySelector('#m-endpoints').innerText,
                     osc: document.querySelector('#m-osc').innerText}})""", "as": "haar"},
        {"screenshot": str(artifacts / "console-haar_faces.jpg"), "fullPage": True},
        # stop, then start again with an option from the generated form
        {"click": "#m-stop"},
        {"wait": "document.querySelector('#m-state').textContent === 'stopped'"},
        {"eval": "fetch('/v1/models/haar_faces').then((r) => r.json()).then((d) => d.status.state)", "as": "stopped"},
        {"fill": ["#m-options input[name=min_neighbors]", "3"]},
        {"click": "#m-start"},
        {"wait": "document.querySelector('#m-state').textContent === 'running'", "timeout": 60000},
        {"eval": "fetch('/v1/models/haar_faces').then((r) => r.json()).then((d) => d.status)", "as": "restarted"},
    ], name="console-haar", timeout_ms=120000)
    v = answer["values"]
    cards = v["cards"]
    assert {"face_mesh", "pose", "haar_faces", "cartoon", "style_transfer", "digits_vae"} <= set(cards)
    card = cards["face_mesh"]
    for text in ("EXTRACT", "Apache-2.0", "commercial", "yes", "Google (MediaPipe)", "ms / 640×480"):
        assert text in card, (text, card)

    # the camera moves: the frames sent differ, and so do the faces found in them
    # (a frame may go twice when the page sends faster than the 15 fps camera: allow some repeats)
    assert v["sent"]["distinct"] >= max(5, v["sent"]["n"] // 2), v["sent"]
    faces = [next((b for b in boxes if _in_face(b)), None) for boxes in v["boxes_seen"]]
    assert all(faces), v["boxes_seen"]  # a face in every result (Haar may add a false positive)
    assert len({round(f["x"]) for f in faces}) >= 3, faces  # it pans across the frame

    haar = v["haar"]
    assert float(haar["fps"]) > 0 and float(haar["latency"]) > 0 and haar["dropped"].isdigit()
    assert "/v1/models/haar_faces/stream?command=detect" in haar["endpoints"]
    assert bridge_daemon.url + "/v1/models/haar_faces/query" in haar["endpoints"]
    assert "/haar_faces/boxes" in haar["osc"] and "/haar_faces/boxes/count" in haar["osc"]
    assert "/server/connect" in haar["osc"]

    assert v["stopped"] == "STOPPED"
    assert v["restarted"]["state"] == "RUNNING" and v["restarted"]["options"]["min_neighbors"] == 3


def test_console_face_mesh_overlay(bridge_daemon, drive, artifacts):
    answer = drive(bridge_daemon.url + "/?model=face_mesh", [
        {"wait": "document.querySelector('#m-name').textContent === 'Face Mesh'"},
        {"fill": ["#m-options input[name=max_faces]", "2"]},
        {"click": "#m-start"},
        {"wait": "document.querySelector('#m-state').textContent === 'running'", "timeout": 60000},
        {"click": "#m-go"},
        _wait_results(5),
        {"eval": f"""(() => {{ const f = {STATE}.results[0];
            return {{nose: [f.nose_tip.x, f.nose_tip.y], n: {STATE}.results.length,
                     osc: document.querySelector('#m-osc').innerText}}; }})()""", "as": "fm"},
        {"screenshot": str(artifacts / "console-face_mesh.jpg")},
        {"screenshot": str(artifacts / "console-face_mesh-connect.jpg"), "selector": "#m-connect"},
    ], name="console-face_mesh", timeout_ms=120000, viewport=(1280, 1050))
    fm = answer["values"]["fm"]
    assert fm["n"] == 1
    x, y = fm["nose"]
    assert FACE[0] < x / 640 < FACE[2] and FACE[1] < y / 480 < FACE[3]
    assert "/face_mesh/landmarks" in fm["osc"]


def test_console_image_file_to_image(bridge_daemon, drive, artifacts, tmp_path):
    import cv2

    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(astronaut_frame(), cv2.COLOR_RGB2BGR))
    answer = drive(bridge_daemon.url + "/?model=cartoon", [
        {"wait": "document.querySelector('#m-name').textContent === 'Cartoon'"},
        {"click": "#m-start"},
        {"wait": "document.querySelector('#m-state').textContent === 'running'", "timeout": 60000},
        {"click": "input[name=input][value=file]"},
        {"file": ["#m-file", str(photo)]},
        {"select": ["#m-inputs select[name=edges]", "thin"]},
        {"click": "#m-go"},
        {"wait": f"{STATE}.images.image && {STATE}.frames >= 1"},
        {"sleep": 300},
        {"eval": f"""({{size: [{STATE}.images.image.width, {STATE}.images.image.height],
                     canvas: [document.querySelector('#m-canvas').width, document.querySelector('#m-canvas').height],
                     latency: document.querySelector('#s-latency').textContent}})""", "as": "cartoon"},
        {"screenshot": str(artifacts / "console-cartoon.jpg"), "fullPage": True},
    ], name="console-cartoon", use_camera=False, timeout_ms=90000)
    c = answer["values"]["cartoon"]
    assert c["size"] == [640, 480] and c["canvas"] == [640, 480]
    assert float(c["latency"]) > 0


def test_console_generator_without_image_input(bridge_daemon, drive, artifacts):
    answer = drive(bridge_daemon.url + "/?model=digits_vae", [
        {"wait": "document.querySelector('#m-name').textContent === 'Digits VAE'"},
        {"click": "#m-start"},
        {"wait": "document.querySelector('#m-state').textContent === 'running'", "timeout": 60000},
        {"eval": "document.querySelector('#m-input-kind').hidden", "as": "no_input_choice"},
        {"select": ["#m-inputs select[name=digit]", "3"]},
        {"click": "#m-go"},
        {"wait": f"{STATE}.images.image"},
        {"fill": ["#m-inputs input[name=size]", "128"]},  # a changed input runs it again
        {"wait": f"{STATE}.images.image.width === 128"},
        {"eval": f"{STATE}.frames", "as": "frames"},
    ], name="console-digits_vae", use_camera=False)
    assert answer["values"]["no_input_choice"] is True
    assert answer["values"]["frames"] >= 2


def test_console_daemon_side_source(drive, artifacts, camera):
    """The daemon reads the video itself; the console only listens (?listen=1) and draws the results."""
    from .conftest import Daemon

    # a path from a client is a source only inside --file-root (docs/security.md)
    d = Daemon(["haar_faces"], ["--source", f"haar_faces={camera}", "--file-root", str(camera.parent)])
    try:
        d.wait_running("haar_faces")
        answer = drive(d.url + "/?model=haar_faces", [
            {"wait": "!document.querySelector('#m-run').hidden"},
            {"click": "input[name=input][value=source]"},
            {"fill": ["#m-source", str(camera)]},
            {"click": "#m-source-start"},
            _wait_results(3),
            {"eval": f"({{boxes: {STATE}.outputs.boxes, state: document.querySelector('#m-source-state').textContent}})",
             "as": "src"},
            {"click": "#m-source-stop"},
            {"wait": "document.querySelector('#m-source-state').textContent === 'stopped'"},
        ], name="console-source", use_camera=False)
    finally:
        d.stop()
    src = answer["values"]["src"]
    assert src["state"].startswith("reading")
    assert any(_in_face({"x": x0 * 640, "y": y0 * 480, "width": (x1 - x0) * 640, "height": (y1 - y0) * 480})
               for x0, y0, x1, y1 in src["boxes"]), src["boxes"]


def test_console_with_a_token(drive):
    """A daemon started with --token: the console passes the token from its own URL to every request."""
    from .conftest import Daemon

    d = Daemon(["haar_faces"], ["--token", "s3cret"])
    try:
        answer = drive(d.url + "/?token=s3cret&model=haar_faces", [
            {"wait": "document.querySelectorAll('.card').length >= 10"},
            {"wait": "!document.querySelector('#m-run').hidden", "timeout": 60000},
            {"click": "#m-go"},
            _wait_results(2),
            {"eval": "fetch('/v1/models').then((r) => r.status)", "as": "without_token"},
        ], name="console-token")
    finally:
        d.stop()
    assert answer["values"]["without_token"] == 401


def test_console_card_switch_shows_nothing_of_the_previous_model(bridge_daemon, drive):
    """Switching from a running model to a stopped one: its panel starts clean (no old fps, latency or
    results), Run is not offered, and a Run forced anyway fires nothing at the stopped model."""
    answer = drive(bridge_daemon.url + "/?model=haar_faces", [
        {"wait": "!document.querySelector('#m-run').hidden"},
        {"eval": HOOK_SENT_FRAMES, "as": "hooked"},
        {"click": "#m-go"},
        _wait_results(3),
        {"eval": "document.querySelector('#s-fps').textContent", "as": "fps_before"},
        {"click": ".card[data-id=text_ngram]"},
        {"eval": """({run_hidden: document.querySelector('#m-run').hidden,
                     fps: document.querySelector('#s-fps').textContent,
                     latency: document.querySelector('#s-latency').textContent,
                     found: document.querySelector('#s-found').textContent,
                     results: window.consoleState.results})""", "as": "just_switched"},
        {"wait": "document.querySelector('#m-name').textContent === 'Text N-gram' || "
                 "document.querySelector('#m-state').textContent === 'stopped'"},
        {"eval": "window.__sent.length", "as": "sent_before_forced_run"},
        {"eval": "document.querySelector('#m-go').click(), true", "as": "forced"},
        {"sleep": 1000},
        {"eval": """({run_hidden: document.querySelector('#m-run').hidden,
                     state: document.querySelector('#m-state').textContent,
                     error: document.querySelector('#m-error').textContent,
                     sent: window.__sent.length, running: window.consoleState.running})""", "as": "after"},
    ], name="console-switch")
    v = answer["values"]
    assert float(v["fps_before"]) > 0
    sw = v["just_switched"]
    assert sw["run_hidden"] and sw["fps"] == "–" and sw["latency"] == "–" and sw["found"] == "" and sw["results"] is None
    after = v["after"]
    assert after["state"] == "stopped" and after["run_hidden"]
    assert "not running" in after["error"] and after["running"] is False
    assert after["sent"] == v["sent_before_forced_run"]


def test_console_readout_in_view_at_1280x800_and_a_favicon(bridge_daemon, drive, artifacts):
    answer = drive(bridge_daemon.url + "/?model=haar_faces", [
        {"wait": "!document.querySelector('#m-run').hidden"},
        {"click": "#m-go"},
        _wait_results(2),
        {"eval": """(() => { const r = document.querySelector('#s-fps').getBoundingClientRect();
                    return {bottom: r.bottom, height: innerHeight, scrolled: scrollY}; })()""", "as": "fps"},
        {"eval": """fetch(document.querySelector('link[rel=icon]').href).then(async (r) =>
                    ({status: r.status, type: r.headers.get('content-type'), size: (await r.text()).length}))""",
         "as": "icon"},
        {"screenshot": str(artifacts / "console-1280x800.jpg")},
    ], name="console-1280", viewport=(1280, 800))
    v = answer["values"]
    assert v["fps"]["scrolled"] == 0 and 0 < v["fps"]["bottom"] <= v["fps"]["height"], v["fps"]
    assert v["icon"]["status"] == 200 and v["icon"]["type"].startswith("image/svg") and v["icon"]["size"] > 100


def test_console_publishes_a_model_as_ndi_video(bridge_daemon, drive):
    """The video-out panel: Publish starts an NDI output of the model, Stop ends it."""
    import pytest

    pytest.importorskip("NDIlib", reason="NDI needs ndi-python")
    answer = drive(bridge_daemon.url + "/?model=haar_faces", [
        {"wait": "!document.querySelector('#m-run').hidden"},
        {"click": "#m-video-out summary"},
        {"select": ["#m-vo-kind", "ndi"]},
        {"click": "#m-vo-start"},
        {"wait": "document.querySelector('#m-vo-state').textContent.startsWith('publishing')"},
        {"eval": "fetch('/v1/models/haar_faces/video-out').then((r) => r.json())", "as": "published"},
        {"click": "#m-vo-stop"},
        {"wait": "document.querySelector('#m-vo-state').textContent === 'not published'"},
        {"eval": "fetch('/v1/models/haar_faces/video-out').then((r) => r.status)", "as": "after"},
    ], name="console-video-out", use_camera=False)
    v = answer["values"]
    assert v["published"]["kind"] == "ndi" and v["published"]["name"] == "runway_bridge haar_faces"
    assert v["after"] == 404
