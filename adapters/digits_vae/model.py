"""Handwritten digits from a conditional VAE trained in this project on scikit-learn's digits.

The decoder (``decoder.onnx``, 200 KB) turns a latent vector ``z`` and a digit into an 8x8
grayscale digit; the adapter scales it up to ``size`` pixels. It was trained by
``training/digits_vae/train.py`` on the 1,797 8x8 images of ``sklearn.datasets.load_digits``
(rerun that script to rebuild the file); serving needs only onnxruntime and numpy.

- ``generate``: one digit from ``z`` and ``digit``. The same inputs always give the same image;
  moving ``z`` changes the handwriting (slant, thickness, loops) while the digit stays.
- ``interpolate``: a generator command that morphs ``from_digit`` into ``to_digit`` over
  ``steps`` images, with ``z`` fixed. Over HTTP the last image comes back; streams get every step.

Output is white ink on black unless ``invert`` is set. ``smooth`` upscales with a cubic filter;
off gives crisp 8x8 blocks.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

from runway_bridge import boolean, category, command, image, number, run, setup, vector

HERE = Path(__file__).resolve().parent
DECODER = HERE / "decoder.onnx"
LATENT_DIM = 8  # must match training/digits_vae/train.py; checked when the file loads
NUM_CLASSES = 10
DIGITS = [str(d) for d in range(NUM_CLASSES)]


@lru_cache(maxsize=16)
def _cubic_matrix(n_out: int, n_in: int) -> np.ndarray:
    """An (n_out x n_in) matrix that resamples a row with Keys' cubic (a=-0.5), edges clamped."""
    centres = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    base = np.floor(centres).astype(int)
    mat = np.zeros((n_out, n_in), dtype=np.float32)
    for k in range(-1, 3):
        idx = base + k
        t = np.abs(centres - idx)
        w = np.where(t <= 1, 1.5 * t**3 - 2.5 * t**2 + 1, np.where(t < 2, -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2, 0.0))
        np.add.at(mat, (np.arange(n_out), np.clip(idx, 0, n_in - 1)), w)
    return mat


def upscale(pixels: np.ndarray, size: int, smooth: bool) -> np.ndarray:
    """An 8x8 array in 0..1 to size x size in 0..1 (nearest blocks, or cubic when `smooth`)."""
    n = pixels.shape[0]
    if smooth:
        m = _cubic_matrix(size, n)
        return np.clip(m @ pixels @ m.T, 0.0, 1.0)
    idx = (np.arange(size) * n) // size
    return pixels[np.ix_(idx, idx)]


def to_rgb(pixels: np.ndarray, invert: bool) -> np.ndarray:
    """0..1 ink to an HxWx3 uint8 image, white ink on black (or black on white)."""
    ink = 1.0 - pixels if invert else pixels
    gray = (ink * 255.0 + 0.5).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


class DigitsVAE:
    """The decoder: ``decode(z, labels)`` gives N x 8 x 8 ink in 0..1."""

    def __init__(self, path: Path = DECODER):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # a 50k-parameter MLP: threads only add overhead
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.latent_dim = self.session.get_inputs()[0].shape[1]
        if self.latent_dim != LATENT_DIM:
            raise ValueError(f"{path} has latent size {self.latent_dim}, the adapter expects {LATENT_DIM}")

    def decode(self, z: np.ndarray, labels: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float32).reshape(-1, self.latent_dim)
        labels = np.asarray(labels, dtype=np.float32).reshape(-1, NUM_CLASSES)
        out = self.session.run(None, {"z": z, "label": labels})[0]
        return out.reshape(-1, 8, 8)

    def digit(self, z: np.ndarray, digit: int) -> np.ndarray:
        """One 8x8 digit."""
        return self.decode(z, np.eye(NUM_CLASSES, dtype=np.float32)[digit])[0]

    def morph(self, z: np.ndarray, start: int, end: int, steps: int) -> np.ndarray:
        """`steps` 8x8 images whose label weights go linearly from `start` to `end`."""
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
        eye = np.eye(NUM_CLASSES, dtype=np.float32)
        labels = (1.0 - t) * eye[start] + t * eye[end]
        return self.decode(np.tile(np.asarray(z, dtype=np.float32), (steps, 1)), labels)


@setup
def load():
    return DigitsVAE()


LOOK = {
    "size": number(default=256, min=8, max=1024, step=8, description="Side of the square output, in pixels."),
    "smooth": boolean(default=True, description="Cubic upscaling; off gives crisp 8x8 blocks."),
    "invert": boolean(default=False, description="Black ink on white instead of white on black."),
}


@command(
    "generate",
    inputs={
        "z": vector(length=LATENT_DIM, sampling_mean=0, sampling_std=1, description="Latent: the handwriting."),
        "digit": category(choices=DIGITS, default="0"),
        **LOOK,
    },
    outputs={"image": image(channels=3, default_output_format="PNG")},
    description="Draw one digit; the same z and digit always give the same image.",
)
def generate(model: DigitsVAE, inputs):
    pixels = model.digit(inputs["z"], int(inputs["digit"]))
    return {"image": to_rgb(upscale(pixels, int(inputs["size"]), inputs["smooth"]), inputs["invert"])}


@command(
    "interpolate",
    inputs={
        "z": vector(length=LATENT_DIM, sampling_mean=0, sampling_std=1, description="Latent, fixed while morphing."),
        "from_digit": category(choices=DIGITS, default="0"),
        "to_digit": category(choices=DIGITS, default="1"),
        "steps": number(default=16, min=2, max=120, step=1, description="Images from start to end, both included."),
        **LOOK,
    },
    outputs={"image": image(channels=3, default_output_format="PNG")},
    description="Morph one digit into another, one image per step (a generator: streams get every step).",
)
def interpolate(model: DigitsVAE, inputs):
    frames = model.morph(inputs["z"], int(inputs["from_digit"]), int(inputs["to_digit"]), int(inputs["steps"]))
    for pixels in frames:
        yield {"image": to_rgb(upscale(pixels, int(inputs["size"]), inputs["smooth"]), inputs["invert"])}


if __name__ == "__main__":
    run()
