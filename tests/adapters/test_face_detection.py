"""The face_detection adapter on real photos: the astronaut's face, Messi's with the full range model."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from runway_bridge.model import load_model

ADAPTER = Path(__file__).resolve().parents[2] / "adapters" / "face_detection" / "model.py"
MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
# The astronaut's face (skin, without hair), checked by eye on a grid: x 0.34-0.53, y 0.15-0.35.
FACE_CENTRE = (0.435, 0.25)


@pytest.fixture(scope="module", params=["mediapipe", "litert"])
def model(request):
    """Every test below runs on mediapipe and on the same model files through LiteRT."""
    pytest.importorskip("mediapipe" if request.param == "mediapipe" else "ai_edge_litert")
    m = load_model(ADAPTER)
    return m, m.run_setup({"runtime": request.param})


def call(model, **inputs):
    return model[0].call(model[1], "detect", inputs)


def inside(point, box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def test_finds_the_astronauts_face(model):
    out = call(model, image=data.astronaut())
    assert len(out["boxes"]) == len(out["scores"]) == len(out["keypoints"]) == 1
    box = out["boxes"][0]
    assert inside(FACE_CENTRE, box)
    assert 0.28 < box[0] < box[2] < 0.62 and 0.0 < box[1] < box[3] < 0.45
    assert out["scores"][0] > 0.8
    kp = dict(zip(model[0].module.KEYPOINTS, out["keypoints"][0], strict=True))
    assert inside(kp["nose_tip"], box)
    assert kp["right_eye"][0] < kp["nose_tip"][0] < kp["left_eye"][0]  # the subject's right is the image's left
    assert kp["right_eye"][1] < kp["nose_tip"][1] < kp["mouth_center"][1]


def test_full_range_finds_a_small_face():
    if not MESSI.exists():
        pytest.skip("Debian opencv-doc is not installed")
    m = load_model(ADAPTER)
    state = m.run_setup({"model_selection": "full_range", "min_confidence": 0.3})
    messi = cv2.cvtColor(cv2.imread(str(MESSI)), cv2.COLOR_BGR2RGB)
    out = m.commands["detect"].fn(state, {"image": messi})
    assert len(out["boxes"]) == 1
    assert inside((0.445, 0.33), out["boxes"][0])  # his face, head bowed toward the ball


def test_rgba_input_is_converted(model):
    rgb = data.astronaut()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    m, state = model
    out = m.run_command(state, "detect", {"image": rgba})
    assert np.allclose(out["boxes"], call(model, image=rgb)["boxes"], atol=1e-3)


def test_blank_and_tiny_images_give_no_faces(model):
    for img in (np.zeros((480, 640, 3), np.uint8), np.full((2, 3, 3), 200, np.uint8)):
        assert call(model, image=img) == {"boxes": [], "scores": [], "keypoints": []}


def test_manifest_names_the_keypoints(model):
    m, _ = model
    kp = m.manifest()["commands"][0]["outputs"][2]["itemType"]
    assert kp["length"] == 6 and kp["labels"][2] == "nose_tip"
