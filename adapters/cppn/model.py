"""Abstract patterns from a compositional pattern-producing network (CPPN), for live visuals.

A CPPN maps each pixel's coordinates (x, y and the distance r from the centre) plus a latent
vector ``z`` through a small tanh network to a colour. Nothing is trained: the ``seed`` draws
the weights, so each seed is a different family of patterns and ``z`` moves smoothly inside
it. Because the image is a function of continuous coordinates it has no native resolution:
any ``width`` x ``height`` shows the same pattern, sampled finer or coarser.

- ``generate``: one image. The same seed, z, time, zoom and size always give the same bytes;
  a small step in ``z`` (or ``time``) changes the image a little, a large step a lot, so a
  patch can animate it by sending slowly varying numbers.
- ``time`` (seconds) drives ``z`` around a seeded loop (``z + motion * sin(time * f + phase)``,
  f 0.1-0.3 rad/s), for animation from a single clock value.

The graph (``cppn.onnx``, 563 bytes, written by ``training/cppn/build.py``) takes the weights
as inputs, so one onnxruntime session serves every seed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

from runway_bridge import command, image, number, run, setup, vector

HERE = Path(__file__).resolve().parent
GRAPH = HERE / "cppn.onnx"
HIDDEN = 16  # must match training/cppn/build.py
LAYERS = 3
LATENT_DIM = 8
MAX_SIDE = 2048


@lru_cache(maxsize=8)
def coordinates(width: int, height: int, zoom: float) -> np.ndarray:
    """(height*width, 3) rows of x, y, r; y spans -zoom..zoom and x keeps the pixels square."""
    aspect = width / height
    xs = (np.arange(width, dtype=np.float32) + 0.5) / width * 2.0 - 1.0
    ys = (np.arange(height, dtype=np.float32) + 0.5) / height * 2.0 - 1.0
    x = np.broadcast_to(xs[None, :] * (aspect * zoom), (height, width))
    y = np.broadcast_to(ys[:, None] * zoom, (height, width))
    r = np.sqrt(x * x + y * y)
    coords = np.stack([x, y, r], axis=-1).reshape(-1, 3).astype(np.float32)
    coords.setflags(write=False)
    return coords


class Weights:
    """One seed's network: every weight drawn from a standard normal by numpy's PCG64."""

    def __init__(self, seed: int):
        rng = np.random.default_rng(seed)
        self.w_coords = rng.standard_normal((3, HIDDEN)).astype(np.float32)
        self.w_latent = rng.standard_normal((LATENT_DIM, HIDDEN)).astype(np.float32)
        self.bias = rng.standard_normal(HIDDEN).astype(np.float32) * 0.5
        self.hidden = [rng.standard_normal((HIDDEN, HIDDEN)).astype(np.float32) for _ in range(LAYERS)]
        self.w_out = rng.standard_normal((HIDDEN, 3)).astype(np.float32)
        self.freq = rng.uniform(0.1, 0.3, LATENT_DIM).astype(np.float32)  # rad/s: a lap every 20-60 s
        self.phase = rng.uniform(0.0, 2.0 * np.pi, LATENT_DIM).astype(np.float32)


class CPPN:
    """Renders ``image(seed, z, ...)`` as HxWx3 uint8 through one onnxruntime session."""

    def __init__(self, path: Path = GRAPH):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # tall, narrow matrices: a second thread costs more than it gives
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._weights: dict[int, Weights] = {}

    def weights(self, seed: int) -> Weights:
        if seed not in self._weights:
            if len(self._weights) >= 64:  # a patch sweeping seeds must not grow memory without bound
                self._weights.clear()
            self._weights[seed] = Weights(seed)
        return self._weights[seed]

    def latent(self, seed: int, z: np.ndarray, time: float, motion: float) -> np.ndarray:
        w = self.weights(seed)
        z = np.asarray(z, dtype=np.float32).reshape(LATENT_DIM)
        return z + np.float32(motion) * np.sin(w.freq * np.float32(time) + w.phase)

    def image(self, seed: int, z, width: int, height: int, zoom: float = 1.0, time: float = 0.0,
              motion: float = 1.0) -> np.ndarray:
        w = self.weights(seed)
        feeds = {
            "coords": coordinates(width, height, float(zoom)),
            "w_in": w.w_coords,
            "b_in": (self.latent(seed, z, time, motion) @ w.w_latent + w.bias).astype(np.float32),
            "w_out": w.w_out,
        }
        feeds.update({f"w{i}": m for i, m in enumerate(w.hidden)})
        return self.session.run(None, feeds)[0].reshape(height, width, 3)


@setup
def load():
    return CPPN()


@command(
    "generate",
    inputs={
        "z": vector(length=LATENT_DIM, sampling_mean=0, sampling_std=1, description="Latent: moves the pattern smoothly."),
        "seed": number(default=0, min=0, max=2**31 - 1, step=1, description="Draws the network: a family of patterns."),
        "time": number(default=0, min=-1e6, max=1e6, description="Seconds; moves z around a seeded loop (a lap every 20-60 s)."),
        "motion": number(default=1, min=0, max=4, description="How far time moves z (0: time does nothing)."),
        "zoom": number(default=1, min=0.05, max=50, description="Coordinate scale: larger shows more, finer detail."),
        "width": number(default=512, min=8, max=MAX_SIDE, step=1, description="Output width, in pixels."),
        "height": number(default=512, min=8, max=MAX_SIDE, step=1, description="Output height, in pixels."),
    },
    outputs={"image": image(channels=3, default_output_format="JPEG")},
    description="Draw one pattern; the same inputs always give the same image.",
)
def generate(model: CPPN, inputs):
    img = model.image(
        int(inputs["seed"]), inputs["z"], int(inputs["width"]), int(inputs["height"]),
        zoom=inputs["zoom"], time=inputs["time"], motion=inputs["motion"],
    )
    return {"image": img}


if __name__ == "__main__":
    run()
