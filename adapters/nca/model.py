"""A neural cellular automaton that grows a mushroom emoji from one cell and regrows it when damaged.

Each cell of a 40x40 grid holds 12 numbers (premultiplied RGBA and 8 hidden channels). Every step,
each cell looks at its 3x3 neighbours through fixed identity and Sobel filters and, with
probability 0.5, adds an update from a small learned network (``weights.npz``, trained by
``training/nca/train.py`` on the 🍄 of Debian's Noto Color Emoji). Cells with no live neighbour
(alpha above 0.1) die. The same rule grows the picture from a seed and heals it after ``damage``.

The grid lives in the model instance: every client of one running model sees and steps the same
organism, which is the point on stage (one performer damages, the room watches it heal).

- ``reset``: back to a single seed cell; ``seed`` fixes the random firing order, so a reset
  followed by the same steps and damage always gives the same bytes.
- ``step``: advance ``steps`` steps and return the picture, scaled up to ``size`` pixels.
- ``damage``: erase a circle at (``x``, ``y``), in 0..1 of the picture, and return it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from runway_bridge import boolean, category, command, image, number, run, setup

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "weights.npz"
CHANNELS = 12  # must match training/nca/train.py
GRID = 40
FIRE_RATE = 0.5
ALIVE = 0.1
BACKGROUNDS = {"white": 1.0, "black": 0.0}


def _maxpool3(a: np.ndarray) -> np.ndarray:
    """3x3 max with the edges padded by -inf, as torch's max_pool2d(3, 1, 1)."""
    p = np.pad(a, 1, constant_values=-np.inf)
    rows = np.maximum(np.maximum(p[:-2], p[1:-1]), p[2:])
    return np.maximum(np.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])


def alive(x: np.ndarray) -> np.ndarray:
    return _maxpool3(x[:, :, 3]) > ALIVE


def perceive(x: np.ndarray) -> np.ndarray:
    """(G, G, C) -> (G*G, 3C): identity, Sobel d/dx, d/dy per channel (zero padding), order c*3+k."""
    p = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    h = x.shape[0]
    horiz = p[:, 2:] - p[:, :-2]  # (G+2, G, C)
    dx = (horiz[:h] + 2 * horiz[1 : h + 1] + horiz[2:]) / 8
    vert = p[2:] - p[:-2]  # (G, G+2, C)
    dy = (vert[:, :h] + 2 * vert[:, 1 : h + 1] + vert[:, 2:]) / 8
    return np.stack([x, dx, dy], axis=-1).reshape(h * h, -1)


class Rule:
    """The learned update: relu(features @ w1 + b1) @ w2."""

    def __init__(self, path: Path = WEIGHTS):
        with np.load(path, allow_pickle=False) as f:
            self.w1, self.b1, self.w2 = (f[k].astype(np.float32) for k in ("w1", "b1", "w2"))
        if self.w1.shape[0] != 3 * CHANNELS or self.w2.shape[1] != CHANNELS:
            raise ValueError(f"{path}: weights for {self.w2.shape[1]} channels, the adapter expects {CHANNELS}")

    def step(self, x: np.ndarray, fire: np.ndarray) -> np.ndarray:
        """One step of a (G, G, C) float32 state; `fire` is a (G, G) bool mask."""
        pre = alive(x)
        hidden = np.maximum(perceive(x) @ self.w1 + self.b1, 0.0)
        x = x + (hidden @ self.w2).reshape(x.shape) * fire[:, :, None]
        return x * (pre & alive(x))[:, :, None]


def seed_state() -> np.ndarray:
    x = np.zeros((GRID, GRID, CHANNELS), np.float32)
    x[GRID // 2, GRID // 2, 3:] = 1.0
    return x


def to_rgba(x: np.ndarray) -> np.ndarray:
    """The state's straight-alpha RGBA, 0..1."""
    a = np.clip(x[:, :, 3:4], 0.0, 1.0)
    rgb = np.clip(x[:, :, :3], 0.0, 1.0)
    return np.concatenate([np.where(a > 1e-3, np.clip(rgb / np.maximum(a, 1e-3), 0, 1), 0), a], -1)


def picture(x: np.ndarray, size: int, smooth: bool, background: float) -> np.ndarray:
    """The state composited on a grey level and scaled to size x size, uint8 RGB."""
    a = np.clip(x[:, :, 3:4], 0.0, 1.0)
    rgb = np.clip(x[:, :, :3], 0.0, 1.0) + (1.0 - a) * background  # premultiplied over the background
    small = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR if smooth else cv2.INTER_NEAREST)


class Automaton:
    """One organism: the grid, its firing RNG and a lock (clients may step it concurrently)."""

    def __init__(self, rule: Rule | None = None, seed: int = 0):
        self.rule = rule or Rule()
        self.lock = threading.Lock()
        self.reset(seed)

    def reset(self, seed: int = 0) -> None:
        with self.lock:
            self.state = seed_state()
            self.rng = np.random.default_rng(seed)
            self.age = 0

    def step(self, n: int = 1) -> np.ndarray:
        with self.lock:
            for _ in range(n):
                self.state = self.rule.step(self.state, self.rng.random((GRID, GRID)) < FIRE_RATE)
            self.age += n
            return self.state

    def damage(self, x: float, y: float, radius: float) -> np.ndarray:
        """Zero every cell within `radius` of (x, y), all in 0..1 of the grid's side."""
        with self.lock:
            centres = (np.arange(GRID) + 0.5) / GRID
            hit = (centres[None, :] - x) ** 2 + (centres[:, None] - y) ** 2 < radius * radius
            self.state[hit] = 0.0
            return self.state


@setup
def load():
    return Automaton()


LOOK = {
    "size": number(default=512, min=40, max=2048, step=1, description="Side of the square output, in pixels."),
    "smooth": boolean(default=False, description="Bilinear upscaling; off shows the cells as crisp squares."),
    "background": category(choices=list(BACKGROUNDS), default="white"),
}
OUTPUTS = {"image": image(channels=3, default_output_format="JPEG"), "age": number(description="Steps since reset.")}


def _out(model: Automaton, state: np.ndarray, inputs) -> dict:
    img = picture(state, int(inputs["size"]), inputs["smooth"], BACKGROUNDS[inputs["background"]])
    return {"image": img, "age": model.age}


@command("step", inputs={"steps": number(default=1, min=1, max=500, step=1, description="Steps to advance."), **LOOK},
         outputs=OUTPUTS, description="Advance the automaton and show it (call it every frame to watch it grow).")
def step(model: Automaton, inputs):
    return _out(model, model.step(int(inputs["steps"])), inputs)


@command("damage",
         inputs={"x": number(default=0.5, min=0, max=1, description="Centre, 0 left to 1 right."),
                 "y": number(default=0.5, min=0, max=1, description="Centre, 0 top to 1 bottom."),
                 "radius": number(default=0.2, min=0, max=1, description="Radius, in widths of the picture."),
                 **LOOK},
         outputs=OUTPUTS, description="Erase a circle; keep stepping to watch it regrow.")
def damage(model: Automaton, inputs):
    return _out(model, model.damage(inputs["x"], inputs["y"], inputs["radius"]), inputs)


@command("reset", inputs={"seed": number(default=0, min=0, max=2**31 - 1, step=1, description="Firing order."), **LOOK},
         outputs=OUTPUTS, description="Back to one seed cell in the centre.")
def reset(model: Automaton, inputs):
    model.reset(int(inputs["seed"]))
    return _out(model, model.state, inputs)


if __name__ == "__main__":
    run()
