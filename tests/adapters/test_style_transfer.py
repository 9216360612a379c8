"""The style_transfer adapter on real photos: sizes kept, styles differ, blends and style images work."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from runway_bridge.model import load_model

ADAPTER = Path(__file__).resolve().parents[2] / "adapters" / "style_transfer" / "model.py"


@pytest.fixture(scope="module")
def model():
    m = load_model(ADAPTER)
    return m, m.run_setup({})


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()


def call(model, name, **inputs):
    return model[0].call(model[1], name, inputs)["image"]


def diff(a, b) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_stylize_changes_the_photo_and_keeps_its_size(model, astronaut):
    out = call(model, "stylize", image=astronaut, style="style_7")
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    assert diff(out, astronaut) > 25


def test_odd_sizes_come_back_at_the_same_size(model, astronaut):
    odd = cv2.resize(astronaut, (641, 479))
    assert call(model, "stylize", image=odd).shape == (479, 641, 3)
    assert call(model, "blend", image=odd, weights=[0.5, 0.5] + [0.0] * 24).shape == (479, 641, 3)
    tiny = odd[:20, :13]  # below the network's 32 px minimum: worked at 32 px, scaled back
    assert call(model, "stylize", image=tiny).shape == (20, 13, 3)
    chelsea = data.chelsea()
    assert call(model, "stylize_with_image", image=odd, style_image=chelsea).shape == (479, 641, 3)


def test_different_styles_differ(model, astronaut):
    a = call(model, "stylize", image=astronaut, style="style_0")
    b = call(model, "stylize", image=astronaut, style="style_19")
    assert diff(a, b) > 15


def test_blend_of_one_style_equals_that_style(model, astronaut):
    one_hot = [0.0] * 26
    one_hot[19] = 3.0  # weights are normalised
    blended = call(model, "blend", image=astronaut, weights=one_hot)
    single = call(model, "stylize", image=astronaut, style="style_19")
    assert diff(blended, single) < 0.5


def test_blend_of_two_styles_lies_between_them(model, astronaut):
    w = [0.0] * 26
    w[3] = w[12] = 1.0
    mix = call(model, "blend", image=astronaut, weights=w)
    a = call(model, "stylize", image=astronaut, style="style_3")
    b = call(model, "stylize", image=astronaut, style="style_12")
    assert diff(mix, a) > 3 and diff(mix, b) > 3
    assert diff(mix, a) < diff(a, b) and diff(mix, b) < diff(a, b)


def test_blend_of_zeros_returns_the_photo(model, astronaut):
    out = call(model, "blend", image=astronaut, weights=[0.0] * 26)
    assert np.array_equal(out, astronaut)


def test_strength_zero_keeps_the_photo(model, astronaut):
    out = call(model, "stylize", image=astronaut, style="style_7", strength=0)
    assert diff(out, astronaut) < 0.5


def test_preserve_color_keeps_the_photos_colours(model, astronaut):
    plain = call(model, "stylize", image=astronaut, style="style_7")
    kept = call(model, "stylize", image=astronaut, style="style_7", preserve_color=True)
    ycc = [cv2.cvtColor(x, cv2.COLOR_RGB2YCrCb).astype(np.float32) for x in (astronaut, plain, kept)]
    assert np.abs(ycc[2][..., 1:] - ycc[0][..., 1:]).mean() < np.abs(ycc[1][..., 1:] - ycc[0][..., 1:]).mean() / 2


def test_any_picture_as_style_changes_the_astronaut(model, astronaut):
    cat = call(model, "stylize_with_image", image=astronaut, style_image=data.chelsea())
    coffee = call(model, "stylize_with_image", image=astronaut, style_image=data.coffee())
    assert cat.shape == astronaut.shape
    assert diff(cat, astronaut) > 15
    assert diff(cat, coffee) > 10


def test_style_picture_embedding_is_cached(model, astronaut):
    _, state = model
    chelsea = data.chelsea()
    first = call(model, "stylize_with_image", image=astronaut, style_image=chelsea)

    class NoPredict:
        def run(self, *args, **kwargs):
            raise AssertionError("the style network ran again")

    real, state.predict = state.predict, NoPredict()
    try:
        again = call(model, "stylize_with_image", image=astronaut, style_image=chelsea.copy())
        assert np.array_equal(first, again)
        with pytest.raises(AssertionError):  # a new style picture does need the style network
            call(model, "stylize_with_image", image=astronaut, style_image=data.coffee())
    finally:
        state.predict = real


def test_smaller_max_side_still_returns_full_size():
    m = load_model(ADAPTER)
    state = m.run_setup({"max_side": 128})
    out = m.commands["stylize"].fn(
        state, {"image": data.coffee(), "style": "style_1", "strength": 1.0, "preserve_color": False}
    )["image"]
    assert out.shape == data.coffee().shape


def test_rgba_input_over_the_wire_is_converted(model, astronaut):
    m, state = model
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    _, png = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    uri = "data:image/png;base64," + base64.b64encode(png.tobytes()).decode()
    out = m.run_command(state, "stylize", {"image": uri, "style": "style_2"})
    assert out["image"].startswith("data:image/jpeg;base64,")
    jpeg = np.frombuffer(base64.b64decode(out["image"].split(",", 1)[1]), np.uint8)
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)
    assert decoded.shape == astronaut.shape
    assert diff(decoded[..., ::-1], astronaut) > 25


def test_unknown_style_is_bad_input(model, astronaut):
    m, state = model
    from runway_bridge.errors import BadInput

    with pytest.raises(BadInput):
        m.run_command(state, "stylize", {"image": astronaut, "style": "style_26"})
    with pytest.raises(BadInput):
        m.run_command(state, "blend", {"image": astronaut, "weights": [1.0] * 25})
