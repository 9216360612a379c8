"""The p5.js examples, opened from the daemon as a user would, on the fake webcam (the astronaut)."""

from __future__ import annotations

from .media import FACE

STATS = "document.querySelector('#stats').textContent"


def _results_arrive(min_results: int = 1) -> dict:
    return {"wait": f"window.example && !window.example.error && window.example.results.length >= {min_results} "
                    "&& window.example.fps > 0", "timeout": 90000}


def _inside_face(x: float, y: float, w: float = 640, h: float = 480, margin: float = 0.03) -> bool:
    return FACE[0] - margin < x / w < FACE[2] + margin and FACE[1] - margin < y / h < FACE[3] + margin


def test_face_mesh(bridge_daemon, drive, artifacts):
    answer = drive(f"{bridge_daemon.url}/examples/p5js/face_mesh/index.html", [
        _results_arrive(),
        {"sleep": 1500},  # a few more frames: a steadier fps, and the drawing catches up
        {"eval": """(() => { const f = window.example.results[0];
            return {n: window.example.results.length, nose: [f.nose_tip.x, f.nose_tip.y], points: f.keypoints.length,
                    named: f.keypoints[1].name, box: f.box, fps: window.example.fps, latency: window.example.latency,
                    canvas: [width, height]}; })()""", "as": "face"},
        {"eval": STATS, "as": "stats"},
        {"screenshot": str(artifacts / "p5-face_mesh.jpg"), "selector": "body"},
    ], name="p5-face_mesh", viewport=(664, 560))
    face = answer["values"]["face"]
    assert face["n"] == 1 and face["points"] == 478 and face["named"] == "nose_tip"
    assert face["canvas"] == [640, 480]
    assert _inside_face(*face["nose"]), (face["nose"], FACE)
    assert face["fps"] > 0 and face["latency"] > 0
    assert "fps" in answer["values"]["stats"] and "latency" in answer["values"]["stats"]
    assert bridge_daemon.state("face_mesh") == "RUNNING"  # the page started it


def test_pose(bridge_daemon, drive, artifacts):
    answer = drive(f"{bridge_daemon.url}/examples/p5js/pose/index.html", [
        _results_arrive(),
        {"sleep": 1500},
        {"eval": """(() => { const p = window.example.results[0];
            return {nose: [p.nose.x, p.nose.y], conf: p.nose.confidence, points: p.keypoints.length,
                    shoulders: [p.left_shoulder.y, p.right_shoulder.y], fps: window.example.fps}; })()""",
         "as": "pose"},
        {"eval": STATS, "as": "stats"},
        {"screenshot": str(artifacts / "p5-pose.jpg"), "selector": "body"},
    ], name="p5-pose", viewport=(664, 560))
    pose = answer["values"]["pose"]
    assert pose["points"] == 33 and pose["conf"] > 0.5
    assert _inside_face(*pose["nose"], margin=0.05), (pose["nose"], FACE)
    assert min(pose["shoulders"]) > pose["nose"][1]  # shoulders below the nose
    assert "fps" in answer["values"]["stats"]


def test_style_transfer(bridge_daemon, drive, artifacts):
    answer = drive(f"{bridge_daemon.url}/examples/p5js/style_transfer/index.html", [
        {"wait": "window.example && !window.example.error && window.example.results.image && "
                 "window.example.fps > 0", "timeout": 90000},
        {"select": ["select", "style_7"]},
        {"wait": "window.example.style === 'style_7' && window.example.results.command === 'stylize'"},
        {"sleep": 2000},
        {"eval": """({image: [window.example.results.image.width, window.example.results.image.height],
                     style: window.example.style, fps: window.example.fps, latency: window.example.latency,
                     options: document.querySelectorAll('select option').length})""", "as": "st"},
        {"eval": STATS, "as": "stats"},
        {"screenshot": str(artifacts / "p5-style_transfer.jpg"), "selector": "body"},
    ], name="p5-style_transfer", viewport=(664, 590))
    st = answer["values"]["st"]
    assert st["options"] == 26 and st["style"] == "style_7"
    assert st["image"] == [480, 360]  # maxSide 480 in the sketch
    assert st["fps"] > 0 and st["latency"] > 0
    assert "style_7" in answer["values"]["stats"]


def test_generator(bridge_daemon, drive, artifacts):
    answer = drive(f"{bridge_daemon.url}/examples/p5js/generator/index.html", [
        {"wait": "window.example && window.example.results.image", "timeout": 60000},
        {"eval": "document.querySelectorAll('input[type=range]').length", "as": "sliders"},
        {"select": ["select", "3"]},
        {"eval": """(() => { const s = document.querySelectorAll('input[type=range]');
            s[0].value = 0.8; s[0].dispatchEvent(new Event('input')); s[3].value = -0.6;
            s[3].dispatchEvent(new Event('input')); return true; })()""", "as": "moved"},
        {"wait": "window.example.z[0] === 0.8 && window.example.z[3] === -0.6"},
        {"eval": """({image: [window.example.results.image.width, window.example.results.image.height],
                     latency: window.example.latency, z: window.example.z})""", "as": "gen"},
        {"eval": STATS, "as": "stats"},
        {"screenshot": str(artifacts / "p5-generator.jpg"), "selector": "body"},
    ], name="p5-generator", use_camera=False, viewport=(664, 660))
    gen = answer["values"]["gen"]
    assert answer["values"]["sliders"] == 8
    assert gen["image"] == [512, 512] and gen["latency"] > 0
    assert "digit 3" in answer["values"]["stats"] and "latency" in answer["values"]["stats"]
