"""The text `onnx_import` writes: the adapter's model.py (one command of one input, or of a batch) and
its card. Format strings; literal braces are doubled."""

MODULE = '''"""{title}: imported from {file} by `runway-bridge import`. Edit freely.

Inputs and outputs were read from the file's signature. Image pixels (0..255) enter the model as
``(pixels * SCALE - MEAN) / STD``; image outputs come back the inverse way, clipped to 0..255.{batch_doc}
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
    options = ort.SessionOptions()
    # Its threads would spin after every run waiting for the next one: between frames, while the
    # daemon decodes and encodes, that burns the cores the codecs need (about 2x CPU per frame).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(MODEL_FILE), options, providers=providers)
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


def feed_of(inputs):
    """One input dict to the session's feed: each tensor a batch of one."""
    return {{{feed}}}


def outputs_of(y):
    """The session's outputs for one input (each a batch of one) to the command's outputs."""
    return {{{results}}}
{command}'''

BATCH_CARD = '''
[batch]  # `run` takes a batch: the daemon gathers the frames of several streams into one call
max_size = {batch}  # at most this many per call; 1 turns batching off
'''

SINGLE = '''

@command(
    "run",
    description={description},
    inputs={{{inputs}}},
    outputs={{{outputs}}},
)
def run_model(session, inputs):
    names = [o.name for o in session.get_outputs()]
    return outputs_of(dict(zip(names, session.run(names, feed_of(inputs)), strict=True)))
'''

BATCH = '''

@command(
    "run",
    description={description},
    inputs={{{inputs}}},
    outputs={{{outputs}}},
    batch={batch},
)
def run_model(session, batch):
    """A list of input dicts to a list of output dicts, in order. Inputs whose tensors have the same
    shapes are stacked and run as one call; other shapes (frames of another size, when the file's
    size is dynamic) run as calls of their own."""
    names = [o.name for o in session.get_outputs()]
    feeds = [feed_of(inputs) for inputs in batch]
    groups = {{}}
    for i, feed in enumerate(feeds):
        groups.setdefault(tuple((k, v.shape) for k, v in feed.items()), []).append(i)
    results = [None] * len(feeds)
    for members in groups.values():
        stacked = {{k: np.concatenate([feeds[i][k] for i in members]) for k in feeds[members[0]]}}
        ys = session.run(names, stacked)
        for name, y in zip(names, ys, strict=True):
            if np.ndim(y) == 0 or len(y) != len(members):
                raise RuntimeError(f"output {{name!r}} has {{np.shape(y)}} for a batch of {{len(members)}}: its first axis "
                                   f"is not the batch; import the file again with --batch 1")
        for j, i in enumerate(members):
            results[i] = outputs_of({{name: y[j : j + 1] for name, y in zip(names, ys, strict=True)}})
    return results
'''

CARD = '''id = {id}
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
