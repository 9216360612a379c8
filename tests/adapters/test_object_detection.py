"""The object detector (NanoDet) on real photos: the cup on coffee(), people and the ball on messi5.jpg.

Expected regions were read off the photos by eye, generously: the cup spans about x 0.28-0.68,
y 0.02-0.75 of coffee(); Messi stands around x 0.15-0.72, the ball lies near (0.65, 0.9).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from skimage import data

from runway_bridge.errors import BadInput
from runway_bridge.model import load_model

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "adapters" / "object_detection" / "model.py"
MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")


@pytest.fixture(scope="module")
def model():
    m = load_model(ADAPTER)
    return m, m.run_setup({})


@pytest.fixture(scope="module")
def messi():
    if not MESSI.exists():
        pytest.skip("Debian opencv-doc is not installed")
    return cv2.cvtColor(cv2.imread(str(MESSI)), cv2.COLOR_BGR2RGB)


def adapter_module(model) -> SimpleNamespace:
    """The loaded model.py's names (iou, nms), without importing it a second time."""
    return SimpleNamespace(**model[0].commands["detect"].fn.__globals__)


def detect(model, img, **inputs):
    return model[0].call(model[1], "detect", {"image": img, **inputs})


def centre(box):
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def found(out, label):
    return [(b, s) for b, s, lab in zip(out["boxes"], out["scores"], out["labels"], strict=True) if lab == label]


def test_the_cup_on_coffee_is_found_where_it_is(model):
    out = detect(model, data.coffee())
    assert out["labels"][0] == "cup", out
    box, score = found(out, "cup")[0]
    assert score > 0.4
    cx, cy = centre(box)
    assert 0.35 < cx < 0.6 and 0.2 < cy < 0.65, box
    assert out["classes"][0] == 41  # COCO's 80-class index of cup


def test_messi_and_the_ball_are_found(model, messi):
    out = detect(model, messi)
    people = found(out, "person")
    assert people and people[0][1] > 0.6, out
    cx, cy = centre(people[0][0])
    assert 0.3 < cx < 0.6 and 0.4 < cy < 0.7, people[0]
    balls = found(out, "sports ball")
    assert any(0.55 < centre(b)[0] < 0.75 and 0.8 < centre(b)[1] < 1.0 for b, _ in balls), out
    assert out["scores"] == sorted(out["scores"], reverse=True)


def test_the_astronaut_is_a_person_and_scores_respect_min_score(model):
    out = detect(model, data.astronaut(), min_score=0.5)
    assert out["labels"][:1] == ["person"]
    assert all(s >= 0.5 for s in out["scores"])
    strict = detect(model, data.astronaut(), min_score=0.95)
    assert strict["boxes"] == [] and strict["labels"] == []


def test_nms_keeps_no_two_overlapping_boxes_of_a_class(model, messi):
    mod = adapter_module(model)
    loose = detect(model, messi, min_score=0.2, iou_threshold=0.95, max_detections=200)
    tight = detect(model, messi, min_score=0.2, iou_threshold=0.3, max_detections=200)
    assert len(tight["boxes"]) < len(loose["boxes"])
    boxes = np.asarray(tight["boxes"])
    for i, box in enumerate(boxes):
        same = [j for j in range(i + 1, len(boxes)) if tight["labels"][j] == tight["labels"][i]]
        if same:
            assert mod.iou(box, boxes[same]).max() <= 0.3
    assert len(detect(model, messi, min_score=0.2, max_detections=2)["boxes"]) == 2


def test_nms_on_hand_made_boxes(model):
    mod = adapter_module(model)
    boxes = np.array([[0, 0, 1, 1], [0.05, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    classes = np.array([0, 0, 1, 0])
    assert mod.nms(boxes, scores, classes, 0.5, 10) == [0, 2, 3]  # the near-copy of 0 goes; other class stays
    assert mod.nms(boxes, scores, classes, 0.99, 10) == [0, 1, 2, 3]
    assert mod.nms(boxes, scores, classes, 0.5, 1) == [0]


def test_odd_frames_work(model):
    tall = data.coffee()[:, 100:400]  # a 300x400 crop, cup in the middle
    assert "cup" in detect(model, tall)["labels"]
    tiny = cv2.resize(data.coffee(), (7, 5))
    assert isinstance(detect(model, tiny)["boxes"], list)


@pytest.mark.parametrize("inputs, field", [({"min_score": 0}, "min_score"), ({"iou_threshold": 1.5}, "iou_threshold"),
                                            ({"max_detections": 1000}, "max_detections")])
def test_out_of_range_inputs_are_refused(model, inputs, field):
    with pytest.raises(BadInput) as err:
        model[0].run_command(model[1], "detect", {"image": np.zeros((8, 8, 3), np.uint8), **inputs})
    assert field in str(err.value)
