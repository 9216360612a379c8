"""The selfie_segmentation adapter on the astronaut: the mask covers her, not the corners."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from runway_bridge.model import load_model

ADAPTER = Path(__file__).resolve().parents[2] / "adapters" / "selfie_segmentation" / "model.py"


@pytest.fixture(scope="module", params=["mediapipe", "litert"])
def model(request):
    """Every test below runs on mediapipe and on the same model files through LiteRT."""
    pytest.importorskip("mediapipe" if request.param == "mediapipe" else "ai_edge_litert")
    m = load_model(ADAPTER)
    return m, m.run_setup({"runtime": request.param})


def call(model, name, **inputs):
    return model[0].call(model[1], name, inputs)


def test_mask_covers_the_person_not_the_corners(model):
    astronaut = data.astronaut()
    mask = call(model, "segment", image=astronaut)["mask"]
    assert mask.shape == (512, 512) and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    assert mask[128, 223] == 1 and mask[300, 200] == 1  # her face, her suit
    assert mask[240:272, 200:240].all()  # the centre of the person
    for y, x in ((10, 10), (10, 500), (500, 10)):
        assert mask[y, x] == 0
    assert 0.25 < mask.mean() < 0.75


def test_cutout_is_transparent_around_the_person(model):
    astronaut = data.astronaut()
    out = call(model, "cutout", image=astronaut)["image"]
    assert out.shape == (512, 512, 4) and out.dtype == np.uint8
    assert np.array_equal(out[:, :, :3], astronaut)
    assert out[128, 223, 3] == 255 and out[10, 10, 3] == 0


def test_wire_outputs_are_pngs(model):
    m, state = model
    seg = m.run_command(state, "segment", {"image": data.astronaut()})["mask"]
    assert seg.startswith("data:image/png;base64,")
    colours = cv2.imdecode(np.frombuffer(base64.b64decode(seg.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    assert colours[128, 223].tolist() == [255, 255, 255] and colours[10, 10].tolist() == [0, 0, 0]
    cut = m.run_command(state, "cutout", {"image": data.astronaut()})["image"]
    rgba = cv2.imdecode(np.frombuffer(base64.b64decode(cut.split(",", 1)[1]), np.uint8), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (512, 512, 4) and rgba[10, 10, 3] == 0


def test_rgba_input_is_converted(model):
    rgb = data.astronaut()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    m, state = model
    assert m.run_command(state, "segment", {"image": rgba})["mask"].startswith("data:image/png")
    assert np.array_equal(call(model, "segment", image=rgba)["mask"], call(model, "segment", image=rgb)["mask"])


@pytest.mark.parametrize("shape", [(480, 640, 3), (3, 2, 3)])
def test_blank_image_is_all_background(model, shape):
    blank = np.zeros(shape, np.uint8)
    assert not call(model, "segment", image=blank)["mask"].any()
    assert call(model, "cutout", image=blank)["image"].shape == shape[:2] + (4,)


def test_threshold_option_moves_the_edge():
    m = load_model(ADAPTER)
    loose = m.commands["segment"].fn(m.run_setup({"threshold": 0.1}), {"image": data.astronaut()})["mask"]
    tight = m.commands["segment"].fn(m.run_setup({"threshold": 0.9}), {"image": data.astronaut()})["mask"]
    assert loose.sum() >= tight.sum() and (tight <= loose).all()
