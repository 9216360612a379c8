"""Small ONNX convolutional models built with `onnx.helper`: no torch, no downloads.

Shared by the batching tests and benchmarks: NCHW image models whose batch axis (and optionally
size) is dynamic, each with a second output, the per-channel mean, so results can be compared
numerically and not only as rounded pixels. `conv_model` is 3x3 convs only (ONNX Runtime's CPU
convolutions fill the cores at a batch of one: batching gains little there, much on a GPU);
`autoencoder_model` adds a dense bottleneck, whose weights make batches pay on a CPU too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def conv_model(path: Path, *, batch="N", size: tuple[int, int] | None = (32, 32), hidden: int = 8,
               layers: int = 2, seed: int = 0) -> Path:
    """Write ``image [batch, 3, H, W] -> out [batch, 3, H, W], mean [batch, 3]`` to `path`.

    `batch` is a symbol (dynamic) or a number; `size` ``(width, height)``, or None for dynamic
    ``H`` and ``W``. `layers` 3x3 convolutions (``3 -> hidden -> ... -> 3``, ReLU between) plus
    the input (a residual, so the picture survives); their cost grows with ``hidden**2``.
    """
    rng = np.random.default_rng(seed)
    h, w = (size[1], size[0]) if size else ("H", "W")
    widths = [3] + [hidden] * (layers - 1) + [3]
    nodes, inits, x = [], [], "image"
    for i, (cin, cout) in enumerate(zip(widths, widths[1:], strict=False)):
        weight = rng.normal(0, 0.5 / np.sqrt(9 * cin), (cout, cin, 3, 3)).astype(np.float32)
        inits += [numpy_helper.from_array(weight, f"w{i}"), numpy_helper.from_array(np.zeros(cout, np.float32), f"b{i}")]
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
        x = f"c{i}"
        if i < len(widths) - 2:
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
            x = f"r{i}"
    nodes += [helper.make_node("Add", [x, "image"], ["out"]),
              helper.make_node("ReduceMean", ["out"], ["mean"], axes=[2, 3], keepdims=0)]
    f = TensorProto.FLOAT
    graph = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("image", f, [batch, 3, h, w])],
                              [helper.make_tensor_value_info("out", f, [batch, 3, h, w]),
                               helper.make_tensor_value_info("mean", f, [batch, 3])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return Path(path)


def autoencoder_model(path: Path, *, batch="N", size: int = 64, channels: int = 16, code: int = 256,
                      seed: int = 0) -> Path:
    """Write a conv autoencoder ``image [batch, 3, size, size] -> out (same shape), mean [batch, 3]``.

    Two stride-2 3x3 convs down to ``size/4``, a dense bottleneck (``channels * (size/4)**2 -> code
    -> back``), nearest upsampling, a 3x3 conv to 3 channels plus the input. The dense layers'
    weights (8 MB at the defaults, 32 MB with code=1024) make batches pay on a CPU: one frame reads them all
    for a matrix-vector product; a batch of 8 reads them once for 8.
    """
    rng = np.random.default_rng(seed)
    q = size // 4
    flat = channels * q * q

    def weight(name, shape, fan_in):
        return numpy_helper.from_array(rng.normal(0, 0.5 / np.sqrt(fan_in), shape).astype(np.float32), name)

    inits = [weight("w0", (channels, 3, 3, 3), 27), weight("w1", (channels, channels, 3, 3), 9 * channels),
             weight("g0", (flat, code), flat), weight("g1", (code, flat), code),
             weight("w2", (3, channels, 3, 3), 9 * channels),
             numpy_helper.from_array(np.array([-1, channels, q, q], np.int64), "shape"),
             numpy_helper.from_array(np.array([1, 1, 4, 4], np.float32), "scales")]
    node = helper.make_node
    nodes = [node("Conv", ["image", "w0"], ["a"], pads=[1] * 4, strides=[2, 2]), node("Relu", ["a"], ["ar"]),
             node("Conv", ["ar", "w1"], ["b"], pads=[1] * 4, strides=[2, 2]), node("Relu", ["b"], ["br"]),
             node("Flatten", ["br"], ["flat"], axis=1), node("MatMul", ["flat", "g0"], ["z"]), node("Relu", ["z"], ["zr"]),
             node("MatMul", ["zr", "g1"], ["u"]), node("Reshape", ["u", "shape"], ["grid"]),
             node("Resize", ["grid", "", "scales"], ["up"], mode="nearest"), node("Conv", ["up", "w2"], ["d"], pads=[1] * 4),
             node("Add", ["d", "image"], ["out"]), node("ReduceMean", ["out"], ["mean"], axes=[2, 3], keepdims=0)]
    f = TensorProto.FLOAT
    graph = helper.make_graph(nodes, "autoencoder", [helper.make_tensor_value_info("image", f, [batch, 3, size, size])],
                              [helper.make_tensor_value_info("out", f, [batch, 3, size, size]),
                               helper.make_tensor_value_info("mean", f, [batch, 3])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return Path(path)
