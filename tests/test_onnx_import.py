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


# -- a dynamic batch axis: a batching command -------------------------------------------------------


class _Counting:
    """The ONNX session, counting its runs and the batch each ran: the state handed to commands."""

    def __init__(self, session):
        self.session, self.runs = session, []

    def get_outputs(self):
        return self.session.get_outputs()

    def run(self, names, feed):
        self.runs.append({k: v.shape for k, v in feed.items()})
        return self.session.run(names, feed)


def _images(sizes, seed=3):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), np.uint8) for w, h in sizes]


def test_dynamic_batch_makes_a_batching_command_that_runs_once(tmp_path):
    from onnx_models import conv_model

    folder = import_onnx(conv_model(tmp_path / "conv.onnx", size=(32, 32)), tmp_path / "adapters", name="conv")
    assert "[batch]" in (folder / "model.toml").read_text() and "max_size = 8" in (folder / "model.toml").read_text()
    model = load_model(folder)
    assert model.commands["run"].batch == 8 and model.manifest()["commands"][0]["batch"] == 8
    state = _Counting(model.run_setup({"device": "cpu"}))
    imgs = _images([(32, 32), (48, 40), (64, 64), (20, 30), (32, 32)])  # resized to the file's 32x32
    raw = {"formats": {"out": "raw"}, "binary": True}
    batched = model.run_batch(state, "run", [{"image": im} for im in imgs], **raw)
    assert state.runs == [{"image": (5, 3, 32, 32)}]  # one call for the five
    for im, got in zip(imgs, batched, strict=True):
        alone = model.run_command(state, "run", {"image": im}, **raw)  # a batch of one
        assert got["out"].shape == (32, 32, 3)
        np.testing.assert_allclose(got["mean"], alone["mean"], rtol=1e-5, atol=1e-6)
        diff = np.abs(np.frombuffer(got["out"].data, np.uint8).astype(int) - np.frombuffer(alone["out"].data, np.uint8))
        assert diff.max() <= 1
    assert [r["image"][0] for r in state.runs[1:]] == [1] * 5
    means = [got["mean"] for got in batched]
    assert len({tuple(np.round(m, 4)) for m in means}) == 5  # five different answers, none swapped


def test_dynamic_size_batches_group_by_size(tmp_path):
    """With H and W dynamic too, frames keep their size: one call per size, results in input order."""
    from onnx_models import conv_model

    model = load_model(import_onnx(conv_model(tmp_path / "any.onnx", size=None), tmp_path, batch=4))
    assert model.commands["run"].batch == 4 and model.commands["run"].inputs["image"].width is None
    state = _Counting(model.run_setup({"device": "cpu"}))
    imgs = _images([(16, 12), (24, 20), (16, 12), (24, 20)], seed=5)
    batched = model.run_batch(state, "run", [{"image": im} for im in imgs], formats={"out": "raw"}, binary=True)
    assert sorted(r["image"] for r in state.runs) == [(2, 3, 12, 16), (2, 3, 20, 24)]
    session = state.session
    for im, got in zip(imgs, batched, strict=True):
        x = (im.astype(np.float32) / 255).transpose(2, 0, 1)[None]
        out, mean = session.run(["out", "mean"], {"image": x})
        np.testing.assert_allclose(got["mean"], mean[0], rtol=1e-5, atol=1e-6)
        assert got["out"].shape == im.shape
        expect = np.clip(np.round(out[0].transpose(1, 2, 0) * 255), 0, 255)
        assert np.abs(np.frombuffer(got["out"].data, np.uint8).reshape(im.shape) - expect).max() <= 1


def test_fixed_batch_and_batch_one_keep_one_input_per_call(tmp_path):
    from onnx_models import conv_model

    fixed = conv_model(tmp_path / "fixed.onnx", batch=1)
    model = load_model(import_onnx(fixed, tmp_path, name="fixed"))
    assert model.commands["run"].batch is None and "batch" not in model.manifest()["commands"][0]
    with pytest.raises(BadInput, match="dynamic first axis"):
        import_onnx(fixed, tmp_path, name="fixed4", batch=4)
    dyn = conv_model(tmp_path / "dyn.onnx")
    off = load_model(import_onnx(dyn, tmp_path, name="off", batch=1))
    assert off.commands["run"].batch is None
    assert "[batch]" not in (tmp_path / "off" / "model.toml").read_text()
    for bad in (0, 2000, 2.5, True):
        with pytest.raises(BadInput, match="batch must be"):
            import_onnx(dyn, tmp_path, name="bad", batch=bad)
    rgb = _images([(32, 32)])[0]
    a = model.run_command(model.run_setup(), "run", {"image": rgb})
    b = off.run_command(off.run_setup(), "run", {"image": rgb})
    np.testing.assert_allclose(a["mean"], b["mean"], rtol=1e-6)  # same weights (seed), same answer


def test_a_dynamic_axis_that_is_not_the_batch_gets_no_batching(tmp_path):
    """A file that calls its first axes dynamic but mixes the items of a batch (transpose, then
    reshape back): batching would hand one stream another's pixels, so the import probes and says no."""
    f = TensorProto.FLOAT
    path = _save(tmp_path, "mixer", [helper.make_node("Transpose", ["image"], ["t"], perm=[1, 0, 2, 3]),
                                     helper.make_node("Reshape", ["t", "shape"], ["mixed"])],
                 [helper.make_tensor_value_info("image", f, ["N", 3, 4, 4])],
                 [helper.make_tensor_value_info("mixed", f, ["N", 3, 4, 4])],
                 [numpy_helper.from_array(np.array([-1, 3, 4, 4], np.int64), "shape")])
    folder = import_onnx(path, tmp_path)
    assert load_model(folder).commands["run"].batch is None
    assert "not each input's own output" in (folder / "model.py").read_text()
    with pytest.raises(BadInput, match="batch=4: output 'mixed' of a batch of two is not each input's own"):
        import_onnx(path, tmp_path, name="forced", batch=4)


def test_cli_batch_option(tmp_path):
    import subprocess
    import sys

    from onnx_models import conv_model

    from conftest import ROOT

    path = conv_model(tmp_path / "conv.onnx")
    cmd = [sys.executable, "-m", "runway_bridge", "import", str(path), "--out", str(tmp_path / "a")]
    assert subprocess.run(cmd + ["--batch", "3"], capture_output=True, timeout=60, cwd=ROOT).returncode == 0
    assert load_model(tmp_path / "a" / "conv").commands["run"].batch == 3
    bad = subprocess.run(cmd + ["--name", "x", "--batch", "0"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert bad.returncode != 0 and "batch must be" in bad.stderr
