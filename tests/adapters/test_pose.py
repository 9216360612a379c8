"""The pose adapter on real photos: nose, shoulders and wrists where they are (checked by eye)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from runway_bridge.model import load_model

ADAPTER = Path(__file__).resolve().parents[2] / "adapters" / "pose" / "model.py"
MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")


@pytest.fixture(scope="module", params=["mediapipe", "litert"])
def model(request):
    """Every test below runs on mediapipe and on the same model files through LiteRT."""
    pytest.importorskip("mediapipe" if request.param == "mediapipe" else "ai_edge_litert")
    m = load_model(ADAPTER)
    return m, m.run_setup({"runtime": request.param})


def call(model, **inputs):
    return model[0].call(model[1], "detect", inputs)


def named(model, out) -> dict:
    labels = model[0].commands["detect"].outputs["landmarks"].item_type.labels
    return (dict(zip(labels, np.asarray(out["landmarks"][0]), strict=True)),
            dict(zip(labels, out["visibility"][0], strict=True)))


def near(point, x, y, tol=0.06) -> bool:
    return abs(point[0] - x) < tol and abs(point[1] - y) < tol


def test_astronaut_nose_and_shoulders(model):
    out = call(model, image=data.astronaut())
    assert out["detected"] is True and len(out["landmarks"]) == len(out["visibility"]) == 1
    pts, vis = named(model, out)
    assert near(pts["nose"], 0.435, 0.25)  # inside her face (x 0.34-0.53, y 0.15-0.35)
    assert near(pts["right_shoulder"], 0.22, 0.47, 0.08)  # the subject's right: the image's left
    assert near(pts["left_shoulder"], 0.60, 0.50, 0.08)
    assert min(vis["nose"], vis["left_shoulder"], vis["right_shoulder"]) > 0.9
    assert vis["left_ankle"] < 0.2 and pts["left_ankle"][1] > 1.0  # out of frame, below it


def test_messi_wrists_reach_out():
    if not MESSI.exists():
        pytest.skip("Debian opencv-doc is not installed")
    m = load_model(ADAPTER)
    model = (m, m.run_setup({}))
    messi = cv2.cvtColor(cv2.imread(str(MESSI)), cv2.COLOR_BGR2RGB)
    pts, _ = named(model, call(model, image=messi))
    assert near(pts["nose"], 0.45, 0.32)
    assert near(pts["right_wrist"], 0.18, 0.29)  # arm stretched to the left of the picture
    assert near(pts["left_wrist"], 0.65, 0.48)
    assert pts["left_ankle"][1] > pts["left_knee"][1] > pts["left_hip"][1] > pts["left_shoulder"][1]


def test_manifest_labels_and_connections(model):
    out = model[0].manifest()["commands"][0]["outputs"][0]["itemType"]
    assert out["length"] == 33 and out["labels"][0] == "nose" and out["labels"][11] == "left_shoulder"
    assert ["left_shoulder", "right_shoulder"] in out["connections"] and len(out["connections"]) == 35


def test_rgba_input_is_converted(model):
    rgb = data.astronaut()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    m, state = model
    out = m.run_command(state, "detect", {"image": rgba})
    assert out["detected"] is True and len(out["landmarks"][0]) == 33 and len(out["visibility"][0]) == 33


def test_blank_image_finds_nobody(model):
    assert call(model, image=np.zeros((480, 640, 3), np.uint8)) == {"landmarks": [], "visibility": [],
                                                                     "detected": False}
