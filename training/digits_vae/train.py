"""Train the conditional VAE behind ``adapters/digits_vae`` and export its decoder to ONNX.

The data is scikit-learn's bundled copy of the UCI optical-digits test set (``load_digits``:
1,797 8x8 images, pixel values 0..16, ten classes), so nothing is downloaded. The encoder and
decoder are small MLPs; only the decoder is exported, as ``adapters/digits_vae/decoder.onnx``.

Rerun it from the repository root with the training extra installed::

    pip install torch==2.13.0 scikit-learn onnx     # torch 2.13.0 is a CPU build on these machines
    python training/digits_vae/train.py             # ~15 s on one core, writes decoder.onnx
    python training/digits_vae/train.py --check     # retrain, compare with the committed file

Training is seeded and runs on one thread, so on the same CPU and torch version the file comes
out byte for byte the same (``--check`` says so). On another CPU family or torch build the float
kernels may round differently; the weights then drift a little but the adapter's tests (per-class
recognition rates) still hold. The ONNX graph is written with ``onnx.helper`` straight from the
trained weights (it is three ``Gemm`` layers), which keeps the file free of exporter metadata.

The decoder's inputs are ``z`` (N x latent_dim, float32) and ``label`` (N x 10, float32, a
one-hot row, or a mix of two rows to morph between digits); its output ``pixels`` is N x 64 in
0..1, row-major 8x8 with 1 meaning ink.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "adapters" / "digits_vae" / "decoder.onnx"

LATENT_DIM = 8
HIDDEN = (128, 256)
NUM_CLASSES = 10


def build(torch):
    """Return the (encoder, decoder) modules; imported lazily so ``--help`` needs no torch."""
    nn = torch.nn

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Linear(64 + NUM_CLASSES, HIDDEN[1]),
                nn.ReLU(),
                nn.Linear(HIDDEN[1], HIDDEN[0]),
                nn.ReLU(),
            )
            self.mu = nn.Linear(HIDDEN[0], LATENT_DIM)
            self.logvar = nn.Linear(HIDDEN[0], LATENT_DIM)

        def forward(self, x, y):
            h = self.body(torch.cat([x, y], dim=1))
            return self.mu(h), self.logvar(h)

    class Decoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Linear(LATENT_DIM + NUM_CLASSES, HIDDEN[0]),
                nn.ReLU(),
                nn.Linear(HIDDEN[0], HIDDEN[1]),
                nn.ReLU(),
                nn.Linear(HIDDEN[1], 64),
                nn.Sigmoid(),
            )

        def forward(self, z, y):
            return self.body(torch.cat([z, y], dim=1))

    return Encoder(), Decoder()


def load_data():
    """Pixels scaled to 0..1 (N x 64, float32) and one-hot labels (N x 10)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = np.eye(NUM_CLASSES, dtype=np.float32)[digits.target]
    return x, y, digits.target


def train(epochs: int, seed: int, batch: int, lr: float, beta: float, quiet: bool):
    """Train the CVAE and return the decoder module (eval mode)."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    x_np, y_np, _ = load_data()
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    encoder, decoder = build(torch)
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    gen = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=gen)
        total_rec = total_kl = 0.0
        for i in range(0, n, batch):
            idx = order[i : i + batch]
            xb, yb = x[idx], y[idx]
            mu, logvar = encoder(xb, yb)
            eps = torch.randn(mu.shape, generator=gen)
            z = mu + eps * torch.exp(0.5 * logvar)
            recon = decoder(z, yb)
            rec = torch.nn.functional.binary_cross_entropy(recon, xb, reduction="sum")
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = (rec + beta * kl) / xb.shape[0]
            opt.zero_grad()
            loss.backward()
            opt.step()
            total_rec += rec.item()
            total_kl += kl.item()
        sched.step()
        if not quiet and (epoch % 10 == 0 or epoch == 1 or epoch == epochs):
            print(
                f"epoch {epoch:4d}/{epochs}  recon {total_rec / n:7.3f}  kl {total_kl / n:6.3f}"
                f"  {time.perf_counter() - start:5.1f} s",
                flush=True,
            )
    decoder.eval()
    return decoder


def to_onnx_bytes(decoder) -> bytes:
    """Write the decoder MLP as a three-Gemm ONNX graph (opset 17) and return its bytes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    linears = [m for m in decoder.body if m.__class__.__name__ == "Linear"]
    inits, nodes = [], []
    nodes.append(helper.make_node("Concat", ["z", "label"], ["h0"], axis=1, name="concat"))
    prev = "h0"
    for i, layer in enumerate(linears):
        w = layer.weight.detach().numpy().astype(np.float32)
        b = layer.bias.detach().numpy().astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"g{i}"], transB=1, name=f"gemm{i}"))
        last = i == len(linears) - 1
        out = "pixels" if last else f"h{i + 1}"
        nodes.append(helper.make_node("Sigmoid" if last else "Relu", [f"g{i}"], [out], name=f"act{i}"))
        prev = out
    graph = helper.make_graph(
        nodes,
        "digits_cvae_decoder",
        [
            helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", LATENT_DIM]),
            helper.make_tensor_value_info("label", TensorProto.FLOAT, ["N", NUM_CLASSES]),
        ],
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 64])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="runway_bridge/training/digits_vae"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def recognition_report(onnx_bytes: bytes, seed: int) -> float:
    """Classify 50 samples per digit with a logistic regression on load_digits; print rates."""
    import onnxruntime as ort
    from sklearn.linear_model import LogisticRegression

    x, _, target = load_data()
    clf = LogisticRegression(max_iter=2000).fit(x, target)
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    rates = []
    for digit in range(NUM_CLASSES):
        z = rng.standard_normal((50, LATENT_DIM)).astype(np.float32)
        label = np.tile(np.eye(NUM_CLASSES, dtype=np.float32)[digit], (50, 1))
        pix = sess.run(None, {"z": z, "label": label})[0]
        rates.append(float(np.mean(clf.predict(pix) == digit)))
    print("recognised per digit: " + " ".join(f"{d}:{r:.2f}" for d, r in enumerate(rates)))
    return float(np.mean(rates))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--beta", type=float, default=0.5, help="KL weight")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--check", action="store_true", help="do not write; compare the result with the existing --out file"
    )
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    start = time.perf_counter()
    decoder = train(args.epochs, args.seed, args.batch, args.lr, args.beta, args.quiet)
    data = to_onnx_bytes(decoder)
    print(
        f"trained in {time.perf_counter() - start:.1f} s; decoder.onnx {len(data) / 1024:.0f} KiB,"
        f" sha256 {hashlib.sha256(data).hexdigest()[:16]}"
    )
    rate = recognition_report(data, args.seed)
    print(f"mean recognition rate {rate:.3f}")
    if args.check:
        old = args.out.read_bytes()
        if old == data:
            print(f"{args.out}: identical")
            return 0
        import onnxruntime as ort

        z = np.random.default_rng(1).standard_normal((100, LATENT_DIM)).astype(np.float32)
        lab = np.eye(NUM_CLASSES, dtype=np.float32)[np.arange(100) % NUM_CLASSES]
        outs = [
            ort.InferenceSession(b, providers=["CPUExecutionProvider"]).run(None, {"z": z, "label": lab})[0]
            for b in (old, data)
        ]
        diff = float(np.max(np.abs(outs[0] - outs[1])))
        print(f"{args.out}: differs; max pixel difference {diff:.4f} (0..1 scale)")
        return 0 if diff < 0.05 else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
