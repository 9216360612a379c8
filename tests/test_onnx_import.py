"""`import_onnx` on small ONNX models built here, run through `load_model` and checked with numpy."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from runway_bridge.devices import providers_for
from runway_bridge.errors import BadInput, Conflict
from runway_bridge.model import load_model
from runway_bridge.onnx_import import import_onnx


def _save(tmp_path, name, nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return path


def _const(name, value):
    return numpy_helper.from_array(np.asarray(value, np.float32), name)


@pytest.fixture
def image_model(tmp_path):
    """NCHW 1x3x8x8 -> x * 0.5 + 0.25 (an image) and its per-channel mean (a [1, 3] vector)."""
    f = TensorProto.FLOAT
    return _save(tmp_path, "halve", [
        helper.make_node("Mul", ["image", "half"], ["m"]),
        helper.make_node("Add", ["m", "quarter"], ["out"]),
        helper.make_node("ReduceMean", ["image"], ["mean"], axes=[2, 3], keepdims=0),
    ], [helper.make_tensor_value_info("image", f, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("out", f, [1, 3, 8, 8]), helper.make_tensor_value_info("mean", f, [1, 3])],
        [_const("half", 0.5), _const("quarter", 0.25)])


@pytest.fixture
def vector_model(tmp_path):
    """[1, 4] @ W[4, 2] -> [1, 2] (a vector), and the same reshaped to [1, 2, 1] (a flat array)."""
    f = TensorProto.FLOAT
    w = np.arange(8, dtype=np.float32).reshape(4, 2) / 10
    return _save(tmp_path, "matmul", [
        helper.make_node("MatMul", ["v", "w"], ["y"]),
        helper.make_node("Reshape", ["y", "shape"], ["z"]),
    ], [helper.make_tensor_value_info("v", f, ["batch", 4])],
        [helper.make_tensor_value_info("y", f, ["batch", 2]), helper.make_tensor_value_info("z", f, [1, 2, 1])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([1, 2, 1], np.int64), "shape")]), w


def test_image_model_matches_numpy(image_model, tmp_path):
    folder = import_onnx(image_model, tmp_path / "adapters", name="Halve it")
    assert folder.name == "halve_it" and {p.name for p in folder.iterdir()} >= {"model.py", "model.toml", "model.onnx"}
    model = load_model(folder)
    cmd = model.commands["run"]
    assert cmd.inputs["image"].width == 8 and cmd.inputs["image"].height == 8
    assert cmd.outputs["mean"].type == "vector" and cmd.outputs["mean"].length == 3
    assert [o["name"] for o in model.manifest()["options"]] == ["device"]

    state = model.run_setup({"device": "cpu"})
    assert model.module.GPU is False
    rgb = np.random.default_rng(1).integers(0, 256, (8, 8, 3), np.uint8)
    raw = cmd.fn(state, {"image": rgb})
    x = rgb.astype(np.float32) / 255
    np.testing.assert_array_equal(raw["out"], np.clip(np.round((x * 0.5 + 0.25) * 255), 0, 255).astype(np.uint8))
    np.testing.assert_allclose(raw["mean"], x.mean(axis=(0, 1)), rtol=1e-5)

    wire = model.run_command(state, "run", {"image": rgb}, formats={"out": "PNG"})
    assert wire["out"].startswith("data:image/png;base64,") and len(wire["mean"]) == 3


def test_resize_and_normalisation(image_model, tmp_path):
    folder = import_onnx(image_model, tmp_path, scale=1 / 255, mean=[0.5, 0.5, 0.5], std=0.25)
    model = load_model(folder)
    state = model.run_setup()
    big = np.full((32, 48, 3), 200, np.uint8)  # resized to 8x8 by the image input
    out = model.run_command(state, "run", {"image": big}, binary=True, formats={"out": "raw"})
    x = (200 / 255 - 0.5) / 0.25
    np.testing.assert_allclose(out["mean"], [x] * 3, rtol=1e-3)
    expect = np.clip(round(((x * 0.5 + 0.25) * 0.25 + 0.5) * 255), 0, 255)
    assert out["out"].shape == (8, 8, 3) and set(out["out"].data) == {expect}


def test_vector_model_matches_numpy(vector_model, tmp_path):
    path, w = vector_model
    model = load_model(import_onnx(path, tmp_path))
    cmd = model.commands["run"]
    assert cmd.inputs["v"].length == 4 and cmd.outputs["y"].length == 2
    assert cmd.outputs["z"].type == "array" and "1x2x1" in cmd.outputs["z"].description
    state = model.run_setup()
    v = [1.0, -2.0, 0.5, 3.0]
    out = model.run_command(state, "run", {"v": v})
    expect = (np.array([v], np.float32) @ w).ravel()
    np.testing.assert_allclose(out["y"], expect, rtol=1e-6)
    np.testing.assert_allclose(out["z"], expect, rtol=1e-6)
    assert model.manifest()["commands"][0]["inputs"][0]["length"] == 4


def test_dynamic_nhwc_uint8_image_goes_in_at_its_own_size(tmp_path):
    u8 = TensorProto.UINT8
    path = _save(tmp_path, "ident", [helper.make_node("Identity", ["frame"], ["same"])],
                 [helper.make_tensor_value_info("frame", u8, [1, "h", "w", 3])],
                 [helper.make_tensor_value_info("same", u8, [1, "h", "w", 3])])
    model = load_model(import_onnx(path, tmp_path))
    frame = model.commands["run"].inputs["frame"]
    assert frame.type == "image" and frame.width is None
    rgb = np.random.default_rng(2).integers(0, 256, (5, 7, 3), np.uint8)
    out = model.commands["run"].fn(model.run_setup(), {"frame": rgb})
    np.testing.assert_array_equal(out["same"], rgb)  # uint8 input: scale 1, nothing lost


def test_clear_errors(vector_model, tmp_path):
    path, _ = vector_model
    import_onnx(path, tmp_path)
    with pytest.raises(Conflict, match="already exists"):
        import_onnx(path, tmp_path)
    with pytest.raises(BadInput, match="device"):
        import_onnx(path, tmp_path, name="x", device="tpu")
    dyn = _save(tmp_path, "dyn", [helper.make_node("Identity", ["t"], ["u"])],
                [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, "n"])],
                [helper.make_tensor_value_info("u", TensorProto.FLOAT, [1, "n"])])
    with pytest.raises(BadInput, match="dynamic dimensions"):
        import_onnx(dyn, tmp_path)


def test_providers_for():
    cpu = "CPUExecutionProvider"
    assert providers_for("cpu", [cpu]) == ([cpu], False, "running on the CPU")
    providers, gpu, message = providers_for("cuda", [cpu])
    assert providers == [cpu] and not gpu and "onnxruntime-gpu" in message and "running on the CPU" in message
    assert providers_for("cuda", ["CUDAExecutionProvider", cpu])[:2] == (["CUDAExecutionProvider", cpu], True)
    assert providers_for("auto", ["DmlExecutionProvider", cpu])[:2] == (["DmlExecutionProvider", cpu], True)
    assert providers_for("auto", [cpu])[:2] == ([cpu], False)
    with pytest.raises(BadInput):
        providers_for("tpu", [cpu])


@pytest.mark.asyncio
async def test_imported_model_in_a_worker_reports_the_truth_about_gpu(vector_model, tmp_path):
    from runway_bridge.backends.process import ProcessBackend

    path, w = vector_model
    folder = import_onnx(path, tmp_path, device="cuda")  # not in this onnxruntime: falls back to the CPU
    backend = ProcessBackend(folder, {"process": {"gpu": True}})  # the card hopes; the session knows
    await backend.start({})
    try:
        assert backend.gpu is False
        out = await backend.call("run", {"v": [1, 0, 0, 0]})
        np.testing.assert_allclose(out["y"], w[0], rtol=1e-6)
    finally:
        await backend.stop()


def test_cli_import_then_the_daemon_runs_it(vector_model, tmp_path, daemon):
    """`runway-bridge import` on a file, then the daemon serves it over HTTP with numpy's numbers."""
    import subprocess
    import sys

    from conftest import ROOT

    path, w = vector_model
    out = subprocess.run([sys.executable, "-m", "runway_bridge", "import", str(path), "--out", str(tmp_path / "mine"),
                          "--name", "matmul"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "runway-bridge serve --adapters" in out.stdout
    d = daemon("matmul", args=["--adapters", str(tmp_path / "mine")])
    v = [1.0, -2.0, 0.5, 3.0]
    status, _, got = d.post("/v1/models/matmul/commands/run", {"v": v})
    assert status == 200, got
    np.testing.assert_allclose(got["y"], np.asarray(v, np.float32) @ w, rtol=1e-5)
    assert d.get("/v1/models/matmul")[2]["status"]["gpu"] is False
