"""The web console at the daemon's root: catalogue cards, start/stop with options, live results."""

from __future__ import annotations

from .media import FACE, astronaut_frame

STATE = "window.consoleState"


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
        {"click": "#m-go"},
        _wait_results(),
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

    haar = v["haar"]
    box = haar["box"]
    cx, cy = (box["x"] + box["width"] / 2) / 640, (box["y"] + box["height"] / 2) / 480
    assert FACE[0] < cx < FACE[2] and FACE[1] < cy < FACE[3]
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
    assert len(src["boxes"]) == 1 and src["state"].startswith("reading")


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
