"""The neural cellular automaton: grows the target from one cell, regrows after damage, is seeded.

The target is the committed 32x32 mushroom (adapters/nca/target.png, rendered from Noto Color
Emoji by training/nca/train.py). Error is the mean absolute difference of premultiplied RGBA over
the 40x40 grid, 0..1; the empty grid scores BLANK_ERROR against it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runway_bridge.errors import BadInput
from runway_bridge.model import load_model

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "adapters" / "nca" / "model.py"
GROWN = 0.5  # grown error must be under this fraction of the empty grid's
GROW_STEPS = 160  # the committed rule has the shape by ~150 steps and holds it (checked to 300)
HEALED = 1.5  # healed error within this factor of the error before damage


def fresh():
    m = load_model(ADAPTER)
    return m, m.run_setup({})


@pytest.fixture(scope="module")
def target() -> np.ndarray:
    rgba = np.asarray(Image.open(ROOT / "adapters" / "nca" / "target.png").convert("RGBA"), np.float32) / 255
    grid = np.zeros((40, 40, 4), np.float32)
    grid[4:36, 4:36, :3] = rgba[..., :3] * rgba[..., 3:]
    grid[4:36, 4:36, 3] = rgba[..., 3]
    return grid


def error(state: np.ndarray, target: np.ndarray) -> float:
    return float(np.abs(np.clip(state[:, :, :4], 0, 1) - target).mean())


def call(model, name, **inputs):
    return model[0].call(model[1], name, inputs)


def test_it_grows_the_target_from_one_cell(target):
    m = fresh()
    blank = error(np.zeros((40, 40, 12), np.float32), target)
    seed = error(m[1].state, target)
    call(m, "step", steps=GROW_STEPS)
    grown = error(m[1].state, target)
    assert grown < GROWN * blank, (grown, blank, seed)
    alpha = m[1].state[:, :, 3] > 0.5
    assert alpha[4:36, 4:36].sum() > 0.8 * (target[:, :, 3] > 0.5).sum()  # the shape filled in
    assert alpha.sum() < 1.3 * (target[:, :, 3] > 0.5).sum()  # and did not spill over the grid
    call(m, "step", steps=300 - GROW_STEPS)
    assert error(m[1].state, target) < GROWN * blank  # and it holds the shape instead of overgrowing


def test_it_regrows_after_damage(target):
    m = fresh()
    call(m, "step", steps=GROW_STEPS)
    before = error(m[1].state, target)
    out = call(m, "damage", x=0.4, y=0.35, radius=0.2)
    hurt = error(m[1].state, target)
    assert np.all(m[1].state[14, 16] == 0)  # a cell inside the circle is gone
    assert out["image"][int(0.35 * 512), int(0.4 * 512)].tolist() == [255, 255, 255]  # shown as background
    call(m, "step", steps=96)
    healed = error(m[1].state, target)
    assert hurt > before + 0.02, (before, hurt)
    assert healed < HEALED * before and healed < hurt - 0.5 * (hurt - before), (before, hurt, healed)


def test_the_same_seed_and_actions_give_the_same_bytes():
    runs = []
    for _ in range(2):
        m = fresh()
        call(m, "reset", seed=3)
        call(m, "step", steps=40)
        call(m, "damage", x=0.5, y=0.5, radius=0.15)
        runs.append(call(m, "step", steps=10))
    assert runs[0]["age"] == runs[1]["age"] == 50
    assert np.array_equal(runs[0]["image"], runs[1]["image"])
    m = fresh()
    call(m, "reset", seed=4)
    call(m, "step", steps=40)
    call(m, "damage", x=0.5, y=0.5, radius=0.15)
    assert not np.array_equal(call(m, "step", steps=10)["image"], runs[0]["image"])  # another firing order


def test_output_sizes_and_backgrounds():
    m = fresh()
    out = call(m, "step", steps=60, size=512)
    assert out["image"].shape == (512, 512, 3) and out["image"].dtype == np.uint8
    crisp = out["image"]
    assert np.array_equal(crisp[:12, :12], np.broadcast_to(crisp[0, 0], (12, 12, 3)))  # a 12.8 px cell
    assert crisp[0, 0].tolist() == [255, 255, 255]
    dark = call(m, "reset", background="black", size=100)["image"]
    assert dark.shape == (100, 100, 3) and dark[0, 0].tolist() == [0, 0, 0]
    assert call(m, "step", smooth=True, size=333)["image"].shape == (333, 333, 3)


@pytest.mark.parametrize("name, inputs, field", [
    ("step", {"steps": 501}, "steps"), ("step", {"steps": 0}, "steps"), ("step", {"size": 4096}, "size"),
    ("damage", {"x": 1.5}, "x"), ("damage", {"radius": -1}, "radius"), ("reset", {"seed": -2}, "seed"),
])
def test_out_of_range_inputs_are_refused(name, inputs, field):
    m = fresh()
    with pytest.raises(BadInput) as err:
        m[0].run_command(m[1], name, inputs)
    assert field in str(err.value)
    assert m[1].age == 0


def test_the_numpy_rule_matches_the_torch_module_it_was_trained_as():
    torch = pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("nca_train", ROOT / "training" / "nca" / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    net = train.build(torch)
    rule = fresh()[1].rule
    with torch.no_grad():
        net.w1.weight.copy_(torch.from_numpy(rule.w1.T.copy())[:, :, None, None])
        net.w1.bias.copy_(torch.from_numpy(rule.b1))
        net.w2.weight.copy_(torch.from_numpy(rule.w2.T.copy())[:, :, None, None])
        rng = np.random.default_rng(0)
        x = (rng.random((40, 40, 12)) * 0.5).astype(np.float32)
        x[:8, :, 3] = 0.0  # some dead rows, so the alive mask matters
        fire = rng.random((40, 40)) < 0.5
        expected = net(torch.from_numpy(x.transpose(2, 0, 1)[None].copy()),
                       torch.from_numpy(fire[None, None].astype(np.float32)))[0].numpy().transpose(1, 2, 0)
    assert np.abs(rule.step(x, fire) - expected).max() < 1e-5
