"""Train the neural cellular automaton in adapters/nca/ to grow and regenerate an emoji.

A growing NCA (Mordvintsev et al., "Growing Neural Cellular Automata", Distill 2020): each cell
of a 40x40 grid holds 12 numbers (premultiplied RGBA and 8 hidden), sees its 3x3 neighbourhood
through fixed identity and Sobel filters, and adds a small learned update, each cell firing with
probability 0.5 per step. Cells whose 3x3 neighbourhood has no alpha above 0.1 are dead (zeroed).
Training uses a sample pool (states are fed back, so the pattern learns to persist) and erases
circles from the best samples (so it learns to regrow).

The target is the mushroom emoji (U+1F344) rendered from Debian's fonts-noto-color-emoji at its
109 px bitmap strike, cropped and downscaled to 32x32, centred in the grid. Writes:

- adapters/nca/weights.npz: the update rule (w1, b1, w2; ~10 KB float32), read by numpy;
- adapters/nca/target.png: the 32x32 RGBA target the tests compare against.

Run (CPU, one thread: ~7 minutes of CPU, 21 minutes wall on the shared 2-core machine; `nice` it)::

    apt-get install fonts-noto-color-emoji && pip install torch==2.13.0
    nice python training/nca/train.py

Seeded (torch and numpy, seed 0), but float summation order differs between CPUs and thread
counts, so a rerun elsewhere gives a similar, not byte-identical, rule.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "adapters" / "nca"
FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI = "\U0001f344"  # mushroom
STRIKE = 109  # the font's only bitmap size
TARGET = 32
PAD = 4
GRID = TARGET + 2 * PAD
CHANNELS = 12
HIDDEN = 64
FIRE_RATE = 0.5
ALIVE = 0.1


def render_target() -> np.ndarray:
    """TARGET x TARGET x 4 float32 RGBA in 0..1, straight (not premultiplied) alpha."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(FONT), STRIKE)
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((0, 0), EMOJI, font=font, embedded_color=True)
    glyph = canvas.crop(canvas.getbbox())
    side = max(glyph.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
    return np.asarray(square.resize((TARGET, TARGET), Image.LANCZOS), dtype=np.float32) / 255.0


def build(torch):
    """The update rule as torch modules; adapters/nca/model.py runs the same maths in numpy."""
    nn, F = torch.nn, torch.nn.functional

    class NCA(nn.Module):
        def __init__(self):
            super().__init__()
            ident = torch.tensor([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=torch.float32)
            sobel = torch.tensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=torch.float32) / 8
            kernels = torch.stack([ident, sobel, sobel.T])  # identity, d/dx, d/dy
            self.register_buffer("kernels", kernels.repeat(CHANNELS, 1, 1)[:, None])
            self.w1 = nn.Conv2d(3 * CHANNELS, HIDDEN, 1)
            self.w2 = nn.Conv2d(HIDDEN, CHANNELS, 1, bias=False)
            nn.init.zeros_(self.w2.weight)

        def alive(self, x):
            return F.max_pool2d(x[:, 3:4], 3, 1, 1) > ALIVE

        def forward(self, x, fire):
            """One step on N x C x H x W states; `fire` is N x 1 x H x W in {0, 1}."""
            pre = self.alive(x)
            seen = F.conv2d(x, self.kernels, padding=1, groups=CHANNELS)
            x = x + self.w2(torch.relu(self.w1(seen))) * fire
            return x * (pre & self.alive(x)).float()

    return NCA()


def seed_state(n: int) -> np.ndarray:
    """n grids with one live cell in the centre: alpha and hidden channels 1, colour 0."""
    x = np.zeros((n, CHANNELS, GRID, GRID), np.float32)
    x[:, 3:, GRID // 2, GRID // 2] = 1.0
    return x


def damage(x: np.ndarray, rng: np.random.Generator) -> None:
    """Erase a random circle (radius 0.1-0.4 of the grid) from each state in place."""
    yy, xx = np.mgrid[0:GRID, 0:GRID] / GRID
    for s in x:
        cx, cy = rng.uniform(0.2, 0.8, 2)
        r = rng.uniform(0.1, 0.4)
        s[:, (xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = 0.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="train the emoji NCA")
    ap.add_argument("--iters", type=int, default=450)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import torch

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rgba = render_target()
    premult = np.concatenate([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], -1)
    target = np.zeros((4, GRID, GRID), np.float32)
    target[:, PAD:-PAD, PAD:-PAD] = premult.transpose(2, 0, 1)
    target_t = torch.from_numpy(target)[None]

    model = build(torch)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(args.iters * 0.6), int(args.iters * 0.85)], 0.3)
    pool = seed_state(256)
    t0 = time.time()
    for it in range(args.iters):
        idx = rng.choice(len(pool), args.batch, replace=False)
        x0 = pool[idx]
        with torch.no_grad():
            loss_each = ((torch.from_numpy(x0[:, :4]) - target_t) ** 2).mean((1, 2, 3)).numpy()
        order = np.argsort(-loss_each)  # worst first
        idx, x0 = idx[order], x0[order]
        x0[:1] = seed_state(1)  # the worst restarts from a seed
        if it > args.iters // 5:
            damage(x0[-2:], rng)  # the best two learn to regrow
        x = torch.from_numpy(x0)
        steps = int(rng.integers(48, 65))
        for _ in range(steps):
            fire = (torch.rand(args.batch, 1, GRID, GRID) < FIRE_RATE).float()
            x = model(x, fire)
        loss = ((x[:, :4] - target_t) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        for p in model.parameters():  # per-parameter gradient normalisation, as in the paper
            p.grad /= p.grad.norm() + 1e-8
        opt.step()
        sched.step()
        pool[idx] = x.detach().numpy()
        if it % 50 == 0 or it == args.iters - 1:
            print(f"iter {it:5d}  loss {loss.item():.5f}  {time.time() - t0:6.0f} s", flush=True)

    w1 = model.w1.weight.detach().numpy()[:, :, 0, 0].T.copy()  # (3C, HIDDEN): input order c*3 + k
    np.savez(OUT / "weights.npz", w1=w1, b1=model.w1.bias.detach().numpy(),
             w2=model.w2.weight.detach().numpy()[:, :, 0, 0].T.copy())
    from PIL import Image

    Image.fromarray((rgba * 255 + 0.5).astype(np.uint8), "RGBA").save(OUT / "target.png")
    print(f"wrote {OUT / 'weights.npz'} and target.png in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
