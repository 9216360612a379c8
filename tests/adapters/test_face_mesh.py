"""The face_mesh adapter on the astronaut: 478 points where her face is, labels and connections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from runway_bridge.model import load_model

ADAPTER = Path(__file__).resolve().parents[2] / "adapters" / "face_mesh" / "model.py"


@pytest.fixture(scope="module", params=["mediapipe", "litert"])
def model(request):
    """Every test below runs on mediapipe and on the same model files through LiteRT."""
    pytest.importorskip("mediapipe" if request.param == "mediapipe" else "ai_edge_litert")
    m = load_model(ADAPTER)
    return m, m.run_setup({"max_faces": 2, "runtime": request.param})


def call(model, **inputs):
    return model[0].call(model[1], "detect", inputs)


def inside(point, box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def test_mesh_covers_the_astronauts_face(model):
    out = call(model, image=data.astronaut())
    assert len(out["landmarks"]) == len(out["boxes"]) == 1
    pts, box = np.asarray(out["landmarks"][0]), out["boxes"][0]
    assert pts.shape == (478, 2)
    assert 0.3 < box[0] < box[2] < 0.6 and 0.05 < box[1] < box[3] < 0.45
    assert inside((0.435, 0.25), box)
    labels = model[0].commands["detect"].outputs["landmarks"].item_type.labels
    nose = pts[labels.index("nose_tip")]
    assert labels.index("nose_tip") == 1 and inside(nose, box)
    right, left = pts[labels.index("right_iris")], pts[labels.index("left_iris")]
    assert right[0] < nose[0] < left[0] and abs(right[1] - left[1]) < 0.03
    assert right[1] < nose[1] < pts[labels.index("chin")][1]


def test_manifest_has_labels_and_connections(model):
    out = model[0].manifest()["commands"][0]["outputs"][0]["itemType"]
    assert out["length"] == 478 and len(out["labels"]) == 478 and len(set(out["labels"])) == 478
    assert out["labels"][0] == "p0" and out["labels"][468] == "right_iris"
    assert 100 < len(out["connections"]) < 200  # contours and irises, not the 2,556-edge tessellation
    assert ["right_eye_outer", "p246"] in out["connections"] or ["p246", "right_eye_outer"] in out["connections"]


def test_rgba_input_is_converted(model):
    rgb = data.astronaut()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    m, state = model
    out = m.run_command(state, "detect", {"image": rgba})
    assert len(out["landmarks"]) == 1 and len(out["landmarks"][0]) == 478


def test_blank_image_gives_no_faces(model):
    assert call(model, image=np.zeros((480, 640, 3), np.uint8)) == {"landmarks": [], "boxes": []}
