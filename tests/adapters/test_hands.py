"""The hands adapter on messi5.jpg: the hands of an arms-out footballer (the only real photo shipped
here with a visible hand; skimage's photos have none).

Whole frame: his left hand (about 30 px wide) is found; his right hand, smaller and blurred, is
not. A crop around each hand, scaled up, finds it with a confident handedness.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from runway_bridge.model import load_model

ADAPTER = Path(__file__).resolve().parents[2] / "adapters" / "hands" / "model.py"
MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")


@pytest.fixture(scope="module", params=["mediapipe", "litert"])
def model(request):
    """Every test below runs on mediapipe and on the same model files through LiteRT."""
    pytest.importorskip("mediapipe" if request.param == "mediapipe" else "ai_edge_litert")
    m = load_model(ADAPTER)
    return m, m.run_setup({"runtime": request.param})


@pytest.fixture(scope="module")
def messi():
    if not MESSI.exists():
        pytest.skip("Debian opencv-doc is not installed")
    return cv2.cvtColor(cv2.imread(str(MESSI)), cv2.COLOR_BGR2RGB)


def call(model, **inputs):
    return model[0].call(model[1], "detect", inputs)


def test_finds_messis_left_hand(model, messi):
    out = call(model, image=messi)
    assert len(out["landmarks"]) == len(out["handedness"]) == len(out["scores"]) == len(out["boxes"]) >= 1
    pts = np.asarray(out["landmarks"][0])
    assert pts.shape == (21, 2)
    wrist, box = pts[0], out["boxes"][0]
    assert abs(wrist[0] - 0.63) < 0.05 and abs(wrist[1] - 0.48) < 0.05  # his left wrist, checked by eye
    assert 0.55 < box[0] < box[2] < 0.75 and 0.38 < box[1] < box[3] < 0.58
    assert out["handedness"][0] in ("Left", "Right") and 0.0 <= out["scores"][0] <= 1.0


def test_handedness_follows_the_mirror_option(messi):
    right_hand = cv2.resize(messi[50:150, 30:150], None, fx=3, fy=3)  # his right hand, scaled up
    m = load_model(ADAPTER)
    selfie = m.commands["detect"].fn(m.run_setup({}), {"image": right_hand})
    photo = m.commands["detect"].fn(m.run_setup({"mirrored_input": False}), {"image": right_hand})
    assert selfie["handedness"][:1] == ["Left"] and selfie["scores"][0] > 0.8  # MediaPipe's selfie convention
    assert photo["handedness"][:1] == ["Right"]
    assert np.allclose(selfie["landmarks"][0], photo["landmarks"][0])


def test_manifest_names_the_joints(model):
    out = model[0].manifest()["commands"][0]["outputs"][0]["itemType"]
    assert out["length"] == 21 and out["labels"][0] == "wrist" and out["labels"][8] == "index_finger_tip"
    assert ["wrist", "thumb_cmc"] in out["connections"]


def test_rgba_input_is_converted(model, messi):
    rgba = np.dstack([messi, np.full(messi.shape[:2], 255, np.uint8)])
    m, state = model
    assert len(m.run_command(state, "detect", {"image": rgba})["landmarks"]) >= 1


def test_no_hands_gives_empty_results(model):
    empty = {"landmarks": [], "handedness": [], "scores": [], "boxes": []}
    assert call(model, image=np.zeros((480, 640, 3), np.uint8)) == empty
    assert call(model, image=data.coffee()) == empty
