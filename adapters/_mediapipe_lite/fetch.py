"""Install-time step: take MediaPipe's model files from the mediapipe 0.10.21 wheel on PyPI.

    python adapters/_mediapipe_lite/fetch.py [--dest DIR] [--wheel FILE]

Runs ``pip download mediapipe==0.10.21 --no-deps`` (any platform's wheel holds the same files),
and extracts only ``mediapipe/modules/**/*.tflite``, ``handedness.txt`` and the licence into DIR (default
``~/.cache/runway-bridge/mediapipe-0.10.21``, where the adapters look). Nothing else of the wheel
is installed, so it works on Python 3.13 and numpy 2. The files are Apache-2.0.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime import CACHE, MEDIAPIPE_VERSION  # noqa: E402

PREFIX = "mediapipe/modules/"
MAX_FILE = 64 * 1024 * 1024  # no model file in the wheel is near this; refuse anything bigger


def extract(wheel: Path, dest: Path) -> list[Path]:
    """The model files of ``wheel``, written under ``dest`` as ``<module>/<file>``."""
    written = []
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            name = info.filename
            if name.endswith(".dist-info/LICENSE"):
                rel = Path("LICENSE")  # Apache-2.0: it travels with the files
            elif name.startswith(PREFIX) and name.endswith((".tflite", "handedness.txt")):
                rel = Path(name[len(PREFIX):])
            else:
                continue
            if rel.is_absolute() or ".." in rel.parts or info.file_size > MAX_FILE:
                raise SystemExit(f"refusing suspicious wheel entry {name!r}")
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(info))
            written.append(target)
    if not any(p.suffix == ".tflite" for p in written):
        raise SystemExit(f"{wheel} holds no {PREFIX}*.tflite files: is it mediapipe {MEDIAPIPE_VERSION}?")
    return written


def download(folder: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", f"mediapipe=={MEDIAPIPE_VERSION}", "--no-deps",
           "--only-binary=:all:", "--python-version", "3.12", "--platform", "manylinux_2_28_x86_64", "-d", str(folder)]
    subprocess.run(cmd, check=True)
    return next(folder.glob("mediapipe-*.whl"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=CACHE, help=f"where to put the files (default {CACHE})")
    ap.add_argument("--wheel", type=Path, help="use this already downloaded mediapipe wheel")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download(Path(tmp))
        files = extract(wheel, args.dest)
    print(f"{len(files)} MediaPipe model files in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
