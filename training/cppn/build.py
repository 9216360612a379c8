"""Write adapters/cppn/cppn.onnx: the CPPN's graph, with its weights as inputs.

A CPPN has no trained weights: a seed draws them (adapters/cppn/model.py), so the graph carries
only the structure, pixel coordinates in and RGB bytes out, and one onnxruntime session serves
every seed. The file is a few kilobytes and is rebuilt byte for byte by this script:

    python training/cppn/build.py

Needs the ``onnx`` package (the ``train`` or ``test`` extra); serving needs only onnxruntime.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "adapters" / "cppn" / "cppn.onnx"
HIDDEN = 16  # units per layer; must match adapters/cppn/model.py
LAYERS = 3  # hidden layers after the first one


def build():
    from onnx import TensorProto, helper

    def inp(name, *shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))

    inputs = [inp("coords", None, 3), inp("w_in", 3, HIDDEN), inp("b_in", HIDDEN)]
    nodes = [
        helper.make_node("MatMul", ["coords", "w_in"], ["m_in"]),
        helper.make_node("Add", ["m_in", "b_in"], ["a_in"]),
        helper.make_node("Tanh", ["a_in"], ["h0"]),
    ]
    for i in range(LAYERS):
        inputs.append(inp(f"w{i}", HIDDEN, HIDDEN))
        nodes += [
            helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"m{i}"]),
            helper.make_node("Tanh", [f"m{i}"], [f"h{i + 1}"]),
        ]
    inputs.append(inp("w_out", HIDDEN, 3))
    nodes += [
        helper.make_node("MatMul", [f"h{LAYERS}", "w_out"], ["m_out"]),
        helper.make_node("Sigmoid", ["m_out"], ["s"]),
        helper.make_node("Mul", ["s", "k255"], ["s255"]),
        helper.make_node("Add", ["s255", "half"], ["rounded"]),
        helper.make_node("Cast", ["rounded"], ["rgb"], to=TensorProto.UINT8),
    ]
    consts = [
        helper.make_tensor("k255", TensorProto.FLOAT, [], [255.0]),
        helper.make_tensor("half", TensorProto.FLOAT, [], [0.5]),
    ]
    out = helper.make_tensor_value_info("rgb", TensorProto.UINT8, [None, 3])
    graph = helper.make_graph(nodes, "cppn", inputs, [out], consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="runway_bridge")
    model.ir_version = 8  # readable by onnxruntime >= 1.14
    return model


def main() -> int:
    import onnx

    model = build()
    onnx.checker.check_model(model)
    OUT.write_bytes(model.SerializeToString())
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
