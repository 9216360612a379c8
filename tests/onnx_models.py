"""Small ONNX convolutional models built with `onnx.helper`: no torch, no downloads.

Shared by the batching tests and benchmarks: an NCHW image model (3x3 convs with ReLUs, back to
3 channels) whose batch axis, and optionally size, are dynamic, with a second output, the
per-channel mean, so results can be compared numerically and not only as rounded pixels.
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
