"""Finding MediaPipe's ``.tflite`` files and running them with LiteRT, without importing mediapipe.

The files are the ones inside the ``mediapipe==0.10.21`` wheel (Apache-2.0). They are looked for,
in order, in ``$RW_MEDIAPIPE_MODELS``, in an installed mediapipe package (found, not imported),
and in ``~/.cache/runway-bridge/mediapipe-0.10.21``, which ``python adapters/_mediapipe_lite/fetch.py``
fills at install time from PyPI. Nothing is ever downloaded while a model runs.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import numpy as np

MEDIAPIPE_VERSION = "0.10.21"
CACHE = Path.home() / ".cache" / "runway-bridge" / f"mediapipe-{MEDIAPIPE_VERSION}"
RUNTIMES = ["auto", "mediapipe", "litert"]


def _installed_modules() -> Path | None:
    try:
        spec = importlib.util.find_spec("mediapipe")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "modules"


def search_dirs() -> list[Path]:
    """Where model files are looked for, first match wins."""
    dirs = [Path(p) for p in os.environ.get("RW_MEDIAPIPE_MODELS", "").split(os.pathsep) if p]
    installed = _installed_modules()
    return dirs + ([installed] if installed else []) + [CACHE]


def model_file(relative: str) -> Path:
    """``relative`` is the path under mediapipe/modules, e.g. ``face_detection/face_detection_short_range.tflite``."""
    dirs = search_dirs()
    for d in dirs:
        if (d / relative).is_file():
            return d / relative
    raise FileNotFoundError(
        f"MediaPipe model file {relative} not found in {', '.join(map(str, dirs))}; "
        f"run `python adapters/_mediapipe_lite/fetch.py` once (it takes the files from the mediapipe=="
        f"{MEDIAPIPE_VERSION} wheel on PyPI) or set RW_MEDIAPIPE_MODELS to a folder holding them")


def mediapipe_available() -> bool:
    try:
        import mediapipe  # noqa: F401
    except Exception:  # not installed, or built for another numpy / protobuf: either way, use LiteRT
        return False
    return True


def choose(runtime: str) -> str:
    """``auto`` becomes ``mediapipe`` when it imports, ``litert`` otherwise."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, not {runtime!r}")
    if runtime == "auto":
        return "mediapipe" if mediapipe_available() else "litert"
    return runtime


class TFLiteModel:
    """One ``.tflite`` file in a LiteRT interpreter; ``run`` takes one input and returns outputs by name."""

    def __init__(self, relative: str, threads: int = 1):  # MediaPipe's own desktop default: one XNNPACK thread
        from ai_edge_litert.interpreter import Interpreter

        self.path = model_file(relative)
        self.interp = Interpreter(model_path=str(self.path), num_threads=threads)
        self.interp.allocate_tensors()
        self.input = self.interp.get_input_details()[0]
        self.outputs = {d["name"]: d["index"] for d in self.interp.get_output_details()}
        self.lock = threading.Lock()  # an interpreter runs one call at a time

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.input["shape"])

    def run(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        with self.lock:
            self.interp.set_tensor(self.input["index"], np.ascontiguousarray(tensor, dtype=np.float32))
            self.interp.invoke()
            return {name: self.interp.get_tensor(i).copy() for name, i in self.outputs.items()}
