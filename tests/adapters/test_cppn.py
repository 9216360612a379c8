"""The CPPN generator: deterministic for a seed, smooth in its latent, the same pattern at any size."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from runway_bridge.errors import BadInput
from runway_bridge.model import load_model

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "adapters" / "cppn" / "model.py"


@pytest.fixture(scope="module")
def model():
    m = load_model(ADAPTER)
    return m, m.run_setup({})


def gen(model, **inputs) -> np.ndarray:
    return model[0].call(model[1], "generate", inputs)["image"]


def diff(a, b) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def latent(seed: int) -> list[float]:
    return np.random.default_rng(seed).standard_normal(8).tolist()


def test_the_same_seed_and_latent_give_the_same_bytes_across_instances(model):
    a = gen(model, seed=5, z=latent(1))
    fresh = load_model(ADAPTER)
    b = gen((fresh, fresh.run_setup({})), seed=5, z=latent(1))
    assert a.shape == (512, 512, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert a.std() > 10  # a pattern, not a flat colour
    assert diff(a, gen(model, seed=6, z=latent(1))) > 15  # another seed, another family


def test_a_small_latent_step_changes_the_image_little_and_a_large_step_a_lot(model):
    z = np.asarray(latent(2))
    step = np.asarray(latent(3))
    step /= np.linalg.norm(step)
    base = gen(model, seed=11, z=z.tolist(), width=256, height=256)
    diffs = [diff(base, gen(model, seed=11, z=(z + size * step).tolist(), width=256, height=256))
             for size in (0.01, 0.1, 1.0, 3.0)]
    assert diffs[0] < 1.0, diffs  # a 0.01 step: under one grey level on average
    assert diffs[-1] > 15, diffs
    assert diffs == sorted(diffs), diffs
    assert diffs[-1] > 20 * diffs[0], diffs


def test_time_animates_smoothly_and_motion_zero_freezes_it(model):
    z = latent(4)
    frames = [gen(model, seed=3, z=z, time=t / 30, width=128, height=128) for t in range(4)]
    steps = [diff(a, b) for a, b in zip(frames[:-1], frames[1:], strict=True)]
    assert all(0 < s < 3 for s in steps), steps  # 1/30 s apart: small, non-zero steps
    assert diff(frames[0], gen(model, seed=3, z=z, time=2.0, width=128, height=128)) > 5
    still = gen(model, seed=3, z=z, time=0.0, motion=0, width=128, height=128)
    assert np.array_equal(still, gen(model, seed=3, z=z, time=7.5, motion=0, width=128, height=128))


def test_the_pattern_is_resolution_independent(model):
    big = gen(model, seed=8, z=latent(5), width=1024, height=1024)
    small = gen(model, seed=8, z=latent(5), width=128, height=128)
    assert diff(cv2.resize(big, (128, 128), interpolation=cv2.INTER_AREA), small) < 2.0
    wide = gen(model, seed=8, z=latent(5), width=256, height=128)
    assert wide.shape == (128, 256, 3)
    # square pixels: the centre 128x128 of a 2:1 frame is the square frame at the same zoom
    half = gen(model, seed=8, z=latent(5), width=128, height=128, zoom=1.0)
    assert diff(wide[:, 64:192], half) < 1.0


def test_zoom_shows_more_of_the_plane(model):
    near = gen(model, seed=9, z=latent(6), width=256, height=256, zoom=1.0)
    far = gen(model, seed=9, z=latent(6), width=256, height=256, zoom=2.0)
    centre = cv2.resize(far[64:192, 64:192], (256, 256), interpolation=cv2.INTER_LINEAR)
    assert diff(centre, near) < 3.0 < diff(far, near)


@pytest.mark.parametrize(
    "inputs, field",
    [({"width": 4096}, "width"), ({"height": 0}, "height"), ({"z": [0.0] * 7}, "z"), ({"seed": -1}, "seed")],
)
def test_out_of_range_inputs_are_refused_before_rendering(model, inputs, field):
    with pytest.raises(BadInput) as err:
        model[0].run_command(model[1], "generate", inputs)
    assert field in str(err.value)
