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

from . import _onnx_templates as T
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


def _dynamic_batch(shape) -> bool:
    """Whether a tensor's first axis is dynamic: the batch axis of a file exported for batches."""
    return bool(shape) and not (isinstance(shape[0], int) and shape[0] > 0)


def _batch_probe(sess, inputs: list[_Field]) -> str | None:
    """Run two random inputs stacked and each alone; None when the stacked run gives each its own
    outputs, else why not. A file may call an axis dynamic that is not the batch (or mix the
    items): then batching would hand one stream another's numbers, so the importer does not batch."""
    import numpy as np

    rng = np.random.default_rng(0)

    def one(f: _Field):
        shape = list(f.shape)
        if f.kind == "image":
            w, h = f.size or (64, 64)
            shape = [1, f.channels, h, w] if f.layout == "NCHW" else [1, h, w, f.channels]
        if f.dtype == "bool":
            return rng.integers(0, 2, shape).astype(bool)
        if f.dtype.startswith(("uint", "int")):
            return rng.integers(0, 100, shape).astype(f.dtype)
        return rng.random(shape, np.float32).astype(f.dtype)

    names = [o.name for o in sess.get_outputs()]
    feeds = [{f.name: one(f) for f in inputs} for _ in range(2)]
    try:
        alone = [sess.run(names, feed) for feed in feeds]
        both = sess.run(names, {k: np.concatenate([feeds[0][k], feeds[1][k]]) for k in feeds[0]})
    except Exception as e:
        return f"a batch of two did not run ({type(e).__name__}: {str(e)[:200]})"
    for name, y, a, b in zip(names, both, *alone, strict=True):
        if np.shape(y)[:1] != (2,) or not all(np.allclose(y[i : i + 1], z, rtol=1e-3, atol=1e-4 * (1 + np.abs(z).max()))
                                                for i, z in enumerate((a, b))):
            return f"output {name!r} of a batch of two is not each input's own output"
    return None


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


def import_onnx(path, out_dir, *, name: str | None = None, layout: str | None = None, size=None, scale=None,
                mean=None, std=None, device: str = "auto", batch: int | None = None, overwrite: bool = False) -> Path:
    """Create the adapter folder ``out_dir/<id>`` for the ONNX file at `path`; return the folder.

    A 4-D float or uint8 input with 1 or 3 channels becomes an ``image`` input (layout NCHW or
    NHWC from whichever axis holds the channels, unless `layout` says), resized to the file's size
    or to `size` ``(width, height)`` when the file leaves it dynamic. Pixels enter the model as
    ``(pixels * scale - mean) / std`` (defaults: 1/255 for float inputs, 1 for uint8; mean 0;
    std 1; one value or one per channel). Other inputs become ``vector`` inputs of their flattened
    length. Outputs: 4-D with 1 or 3 channels become images (scaled back, clipped), 1-D and 2-D
    become vectors, anything else a flat ``array(number)`` with its shape in the description.
    `device` (auto, cpu, cuda, coreml, directml) is the default of the model's ``device`` option.

    When the first axis of every input and output is dynamic (a symbol, -1 or unknown), that axis
    is the batch: the command takes a batch of up to `batch` inputs (default 8) from several
    streams, stacks them into one call and splits the outputs back per input. Inputs of different
    shapes in one batch (only possible when the image size is dynamic) run as one call per shape.
    Before it batches, the importer runs two random inputs stacked and each alone: a file whose
    dynamic first axis is not the batch gets no batching (and says why in its model.py).
    ``batch=1``, or a file with a fixed batch of 1, makes a command of one input at a time.

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
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= 1024):
        raise BadInput(f"batch must be a whole number from 1 to 1024, not {batch!r}")
    try:
        sess = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:
        raise BadInput(f"{path} is not a model ONNX Runtime can load: {e}") from None
    inputs = [_input(a, layout, size) for a in sess.get_inputs()]
    outputs = [_output(a, layout) for a in sess.get_outputs()]
    batches = bool(inputs) and all(_dynamic_batch(a.shape) for a in sess.get_inputs() + sess.get_outputs())
    if batch and batch > 1 and not batches:
        raise BadInput(f"batch={batch} needs a dynamic first axis on every input and output; {path.name} has "
                       f"{', '.join(f'{a.name} {a.shape}' for a in sess.get_inputs() + sess.get_outputs())}")
    why_not = _batch_probe(sess, inputs) if batches and batch != 1 else None
    if why_not and batch:
        raise BadInput(f"batch={batch}: {why_not}; import it with batch 1")
    batch = (batch or 8) if batches and not why_not else 1
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

    fields = dict(description=_q(summary), batch=batch,
                  inputs=block([f"{_q(f.name)}: {_type_code(f, True)}" for f in inputs], "    "),
                  outputs=block([f"{_q(f.name)}: {_type_code(f, False)}" for f in outputs], "    "))
    batch_doc = (f"\n\nNo batches: the file's first axis is dynamic, but {why_not}." if why_not else "" if batch == 1 else f"\n\nThe file's batch axis is dynamic, so `run` takes a batch of up to {batch} "
                 "inputs (frames of several\nstreams), runs them as one call and splits the outputs back per input.")
    code = T.MODULE.format(
        title=title, file=path.name, device=device, imports=", ".join(sorted(used)), batch_doc=batch_doc,
        command=(T.BATCH if batch > 1 else T.SINGLE).format(**fields),
        scale="1 / 255" if abs(scale - 1 / 255) < 1e-12 else repr(float(scale)),
        mean=_stats(mean, 0.0, "mean"), std=_stats(std, 1.0, "std"),
        feed=block(feed, "    "), results=block(results, "    "),
    )
    (folder / "model.py").write_text(code)
    if path.resolve() != (folder / "model.onnx").resolve():
        shutil.copyfile(path, folder / "model.onnx")
    (folder / "model.toml").write_text(T.CARD.format(
        id=json.dumps(model_id), name=json.dumps(title), category=category, description=json.dumps(summary),
        original=json.dumps(path.name), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), device=device)
        + ("" if batch == 1 else T.BATCH_CARD.format(batch=batch)))
    return folder
