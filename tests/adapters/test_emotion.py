"""The emotion adapter: the smiling astronaut is happy; the crop matches the `fer` package's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from runway_bridge.model import load_model

ADAPTER = Path(__file__).resolve().parents[2] / "adapters" / "emotion" / "model.py"


@pytest.fixture(scope="module")
def model():
    m = load_model(ADAPTER)
    return m, m.run_setup({})


def call(model, **inputs):
    return model[0].call(model[1], "detect", inputs)


def test_the_astronaut_is_happy(model):
    out = call(model, image=data.astronaut())
    assert len(out["boxes"]) == len(out["emotions"]) == len(out["scores"]) == 1
    box = out["boxes"][0]
    assert box[0] < 0.435 < box[2] and box[1] < 0.25 < box[3]
    assert out["emotions"] == ["happy"]
    probs = np.asarray(out["scores"][0])
    assert probs.shape == (7,) and abs(probs.sum() - 1.0) < 1e-3 and probs[3] > 0.8


def test_a_flipped_face_is_still_happy_and_a_crop_is_64x64(model):
    mod = model[0].module
    flipped = np.ascontiguousarray(data.astronaut()[:, ::-1])
    assert call(model, image=flipped)["emotions"] == ["happy"]
    crop = mod.face_crop(np.zeros((100, 80), np.uint8), [0.9, 0.9, 1.0, 1.0])  # runs off the edge: filled
    assert crop.shape == (64, 64) and crop.dtype == np.float32 and crop.min() >= -1.0 and crop.max() <= 1.0


def test_wire_output(model):
    m, state = model
    rgb = data.astronaut()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    out = m.run_command(state, "detect", {"image": rgba})
    assert out["emotions"] == ["happy"] and len(out["scores"][0]) == 7
    assert m.manifest()["commands"][0]["outputs"][1]["itemType"]["oneOf"][3] == "happy"


def test_no_face_gives_empty_results(model):
    assert call(model, image=np.zeros((480, 640, 3), np.uint8)) == {"boxes": [], "emotions": [], "scores": []}
    assert call(model, image=data.coffee()) == {"boxes": [], "emotions": [], "scores": []}
