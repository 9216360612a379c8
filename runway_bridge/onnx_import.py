"""Make an adapter from an ONNX file: a card, an editable ``model.py`` and a copy of the file.

Behind ``runway-bridge import model.onnx``. What the file says (layouts, sizes, dtypes, output
shapes) is read from its signature; flags cover only what it cannot say: how pixels are scaled,
and a size for an image input whose size is dynamic (without one, frames go in at their own size).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .devices import DEVICES
from .errors import BadInput, Conflict

__all__ = ["import_onnx"]

_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
           "tensor(uint8)": "uint8", "tensor(int8)": "int8", "tensor(int32)": "int32", "tensor(int64)": "int64",
           "tensor(bool)": "bool"}


@dataclass
class _Field:
    name: str
    kind: str  # image | vector | array
    dtype: str
    shape: list  # the file's, dynamic dims as None
    layout: str | None = None  # NCHW | NHWC, for images
    channels: int = 3
    size: tuple[int, int] | None = None  # (width, height) an image input is resized to

    @property
    def length(self) -> int:
        return math.prod(d or 1 for d in self.shape)  # a dynamic batch holds one

    def describe(self) -> str:
        dims = "x".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.layout + ' ' if self.layout else ''}{self.dtype} {dims}"


def _dims(shape) -> list:
    return [d if isinstance(d, int) and d > 0 else None for d in (shape or [])]


def _image_layout(shape: list, layout: str | None) -> str | None:
    if len(shape) != 4 or shape[0] not in (1, None):
        return None
    if layout:
        return layout if shape[1 if layout == "NCHW" else 3] in (1, 3, None) else None
    return "NCHW" if shape[1] in (1, 3) else "NHWC" if shape[3] in (1, 3) else None


def _input(arg, layout, size) -> _Field:
    dtype = _DTYPES.get(arg.type)
    if dtype is None:
        raise BadInput(f"input {arg.name!r} is a {arg.type}; only numeric tensors can be imported")
    shape = _dims(arg.shape)
    lay = _image_layout(shape, layout) if dtype in ("float32", "float16", "float64", "uint8") else None
    if lay:
        f = _Field(arg.name, "image", dtype, shape, lay)
        c, h, w = (shape[1], shape[2], shape[3]) if lay == "NCHW" else (shape[3], shape[1], shape[2])
        f.channels = c or 3
        if h and w:
            if size and tuple(size) != (w, h):
                raise BadInput(f"input {arg.name!r} is fixed at {w}x{h} in the file; size {size} cannot apply")
            f.size = (w, h)
        elif size:
            f.size = (int(size[0]), int(size[1]))
        return f
    if None in shape[1:] or shape == [None]:
        raise BadInput(f"input {arg.name!r} has dynamic dimensions {arg.shape} beyond the batch; only images may "
                       f"(give layout= when it is one), other tensors need fixed shapes")
    return _Field(arg.name, "vector", dtype, [d or 1 for d in shape])


def _output(arg, layout) -> _Field:
    shape = _dims(arg.shape) if arg.shape is not None else None
    dtype = _DTYPES.get(arg.type, "float32")
    if shape is not None:
        lay = _image_layout(shape, layout)
        if lay:
            c = shape[1] if lay == "NCHW" else shape[3]
            return _Field(arg.name, "image", dtype, shape, lay, channels=c or 3)
        if (len(shape) == 1 and shape[0]) or (len(shape) == 2 and shape[1]):
            return _Field(arg.name, "vector", dtype, shape)
    return _Field(arg.name, "array", dtype, shape or [])


def _stats(value, default: float, what: str) -> list[float]:
    vals = [float(value)] if isinstance(value, (int, float)) else [float(v) for v in (value or [default])]
    if len(vals) not in (1, 3):
        raise BadInput(f"{what} takes one value or one per channel (3), not {len(vals)}")
    return vals


def _q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Python literal, in double quotes


def _type_code(f: _Field, is_input: bool) -> str:
    desc = _q(f.describe() + (", flattened" if f.kind == "array" else ""))
    if f.kind == "image":
        args = [] if f.channels == 3 else [f"channels={f.channels}"]
        if is_input and f.size:
            args += [f"width={f.size[0]}", f"height={f.size[1]}"]
        return f"image({', '.join(args + [f'description={desc}'])})"
    if f.kind == "vector":
        return f"vector(length={f.length}, description={desc})"
    return f"array(number, description={desc})"


_TEMPLATE = '''"""{title}: imported from {file} by `runway-bridge import`. Edit freely.

Inputs and outputs were read from the file's signature. Image pixels (0..255) enter the model as
``(pixels * SCALE - MEAN) / STD``; image outputs come back the inverse way, clipped to 0..255.
"""

from pathlib import Path

import numpy as np
import onnxruntime as ort

from runway_bridge import {imports}
from runway_bridge.devices import DEVICES, providers_for, session_uses_gpu

MODEL_FILE = Path(__file__).with_name("model.onnx")
SCALE = {scale}
MEAN = np.array({mean!r}, np.float32)
STD = np.array({std!r}, np.float32)
GPU = False  # set by setup: whether ONNX Runtime really runs on a GPU (the manifest's GPU flag)


@setup(options={{"device": category(choices=list(DEVICES), default="{device}",
                                   description="Where ONNX Runtime runs; a missing one falls back to the CPU.")}})
def load(opts):
    global GPU
    providers, _, message = providers_for(opts["device"])
    session = ort.InferenceSession(str(MODEL_FILE), providers=providers)
    GPU = session_uses_gpu(session)
    print(f"{{message}}; the session runs on {{session.get_providers()[0]}}")
    return session


def _per_channel(v, c):
    return v if len(v) == c else np.full(c, v.mean(), np.float32)


def to_tensor(img, layout, dtype):
    """An HxWxC (or HxW) uint8 image to a batch of one, in the model's layout and scale."""
    x = img[:, :, None] if img.ndim == 2 else img
    c = x.shape[2]
    x = (x.astype(np.float32) * SCALE - _per_channel(MEAN, c)) / _per_channel(STD, c)
    return (x.transpose(2, 0, 1) if layout == "NCHW" else x)[None].astype(dtype)


def to_image(y, layout):
    """A batch of one image from the model back to HxWxC uint8 pixels."""
    y = np.asarray(y[0], np.float32)
    y = y.transpose(1, 2, 0) if layout == "NCHW" else y
    c = y.shape[2]
    pixels = (y * _per_channel(STD, c) + _per_channel(MEAN, c)) / SCALE
    return np.clip(pixels, 0, 255).round().astype(np.uint8)


@command(
    "run",
    description={description},
    inputs={{{inputs}}},
    outputs={{{outputs}}},
)
def run_model(session, inputs):
    feed = {{{feed}}}
    names = [o.name for o in session.get_outputs()]
    y = dict(zip(names, session.run(names, feed)))
    return {{{results}}}
'''

_CARD = '''id = {id}
name = {name}
category = "{category}"
description = {description}
publisher = ""
backend = "local"  # ONNX Runtime releases the GIL; "process" isolates it
default_command = "run"

[license]  # fill these in from where the ONNX file came from
weights = "unknown"
code = "unknown"
commercial_use = false
note = "Imported from an ONNX file; its licence was not recorded."

[source]
file = "model.onnx"
original = {original}
sha256 = "{sha256}"

[options]
device = "{device}"

[requirements]
python = ["onnxruntime"]
'''


def import_onnx(path, out_dir, *, name: str | None = None, layout: str | None = None, size=None, scale=None,
                mean=None, std=None, device: str = "auto", overwrite: bool = False) -> Path:
    """Create the adapter folder ``out_dir/<id>`` for the ONNX file at `path`; return the folder.

    A 4-D float or uint8 input with 1 or 3 channels becomes an ``image`` input (layout NCHW or
    NHWC from whichever axis holds the channels, unless `layout` says), resized to the file's size
    or to `size` ``(width, height)`` when the file leaves it dynamic. Pixels enter the model as
    ``(pixels * scale - mean) / std`` (defaults: 1/255 for float inputs, 1 for uint8; mean 0;
    std 1; one value or one per channel). Other inputs become ``vector`` inputs of their flattened
    length. Outputs: 4-D with 1 or 3 channels become images (scaled back, clipped), 1-D and 2-D
    become vectors, anything else a flat ``array(number)`` with its shape in the description.
    `device` (auto, cpu, cuda, coreml, directml) is the default of the model's ``device`` option.

    Example: ``import_onnx("unet.onnx", "adapters", name="Sky mask")`` writes
    ``adapters/sky_mask/{model.toml, model.py, model.onnx}``, ready for ``load_model``.
    """
    import onnxruntime

    path = Path(path)
    if not path.is_file():
        raise BadInput(f"no ONNX file at {path}")
    if layout is not None and layout.upper() not in ("NCHW", "NHWC"):
        raise BadInput(f"layout must be NCHW or NHWC, not {layout!r}")
    if device not in DEVICES:
        raise BadInput(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    layout = layout.upper() if layout else None
    try:
        sess = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:
        raise BadInput(f"{path} is not a model ONNX Runtime can load: {e}") from None
    inputs = [_input(a, layout, size) for a in sess.get_inputs()]
    outputs = [_output(a, layout) for a in sess.get_outputs()]
    images_in = [f for f in inputs if f.kind == "image"]
    if scale is None:
        scale = 1.0 if images_in and all(f.dtype == "uint8" for f in images_in) else 1 / 255
    title = name or path.stem
    model_id = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_") or "onnx_model"
    folder = Path(out_dir) / model_id
    if folder.exists() and not overwrite:
        raise Conflict(f"{folder} already exists; pick another name or overwrite it")
    folder.mkdir(parents=True, exist_ok=True)

    has_image_out = any(f.kind == "image" for f in outputs)
    category = ("transform" if images_in else "generate") if has_image_out else "extract"
    summary = (f"Imported from {path.name}: {', '.join(f'{f.name} ({f.kind})' for f in inputs) or 'no inputs'} -> "
               f"{', '.join(f'{f.name} ({f.kind})' for f in outputs)}.")
    feed = [f"{_q(f.name)}: to_tensor(inputs[{_q(f.name)}], {_q(f.layout)}, np.{f.dtype})" if f.kind == "image" else
            f"{_q(f.name)}: np.asarray(inputs[{_q(f.name)}]).reshape({f.shape}).astype(np.{f.dtype})" for f in inputs]
    results = [f"{_q(f.name)}: to_image(y[{_q(f.name)}], {_q(f.layout)})" if f.kind == "image" else
               f"{_q(f.name)}: y[{_q(f.name)}].ravel()" if f.kind == "vector" else
               f"{_q(f.name)}: y[{_q(f.name)}].ravel().tolist()" for f in outputs]
    used = {"category", "command", "setup"} | {f.kind for f in inputs + outputs}
    if "array" in used:
        used.add("number")

    def block(lines, indent):
        return "".join(f"\n{indent}    {line}," for line in lines) + f"\n{indent}"

    code = _TEMPLATE.format(
        title=title, file=path.name, device=device, description=_q(summary), imports=", ".join(sorted(used)),
        scale="1 / 255" if abs(scale - 1 / 255) < 1e-12 else repr(float(scale)),
        mean=_stats(mean, 0.0, "mean"), std=_stats(std, 1.0, "std"),
        inputs=block([f"{_q(f.name)}: {_type_code(f, True)}" for f in inputs], "    "),
        outputs=block([f"{_q(f.name)}: {_type_code(f, False)}" for f in outputs], "    "),
        feed=block(feed, "    "), results=block(results, "    "),
    )
    (folder / "model.py").write_text(code)
    if path.resolve() != (folder / "model.onnx").resolve():
        shutil.copyfile(path, folder / "model.onnx")
    (folder / "model.toml").write_text(_CARD.format(
        id=json.dumps(model_id), name=json.dumps(title), category=category, description=json.dumps(summary),
        original=json.dumps(path.name), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), device=device))
    return folder
