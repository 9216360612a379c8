#!/usr/bin/env python3
"""Run the old Runway Model SDK's own data-type and exception tests against ``import runway``.

The SDK's source and tests live beside the repository, in ``../shared/runway-model-sdk`` (MIT; see
its ABOUT.md); nothing of it is copied into the project. This script copies the two test files and
their images into a temporary folder laid out as the SDK's repository was (``README.md``,
``runway/``, ``docs/source/``, which the file tests look up relative to the working directory),
with ``runway/`` a link to runway_bridge's compatibility package, so the tests' own
``sys.path.insert(0, '.')`` imports the bridge instead of the old SDK. It applies only the two
Python 3.9+ fixes ABOUT.md names: ``np.float`` -> ``float`` and ``base64.decodestring`` ->
``base64.decodebytes``.

Deselected, because they download from GitHub and the bridge runs offline (its ``file`` type
refuses URLs): test_file_deserialization_remote and test_file_deserialization_remote_directory.

    python scripts/old_sdk_tests.py [--sdk PATH] [pytest args...]

Exit status is pytest's. ``RUNWAY_MODEL_SDK`` may name the SDK folder too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ("test_data_types.py", "test_exceptions.py")
ASSETS = ("test_image.jpg", "test_segmentation_colormap.png", "test_segmentation_labelmap.png")
FIXES = (("np.float(", "float("), ("base64.decodestring", "base64.decodebytes"))
DESELECT = ("tests/test_data_types.py::test_file_deserialization_remote",
            "tests/test_data_types.py::test_file_deserialization_remote_directory")


def find_sdk(explicit: str | None = None) -> Path | None:
    """The SDK folder: the argument, $RUNWAY_MODEL_SDK, else ``shared/runway-model-sdk`` beside
    the repository or any folder above it (CI has it at ``../shared``)."""
    candidates = [explicit, os.environ.get("RUNWAY_MODEL_SDK")]
    candidates += [str(p / "shared" / "runway-model-sdk") for p in (ROOT, *ROOT.parents)]
    for c in candidates:
        if c and (Path(c) / "tests" / "test_data_types.py").is_file():
            return Path(c).resolve()
    return None


def prepare(sdk: Path, work: Path) -> None:
    (work / "tests").mkdir(parents=True)
    for name in TESTS:
        text = (sdk / "tests" / name).read_text()
        for old, new in FIXES:
            text = text.replace(old, new)
        (work / "tests" / name).write_text(text)
    for name in ASSETS:
        shutil.copyfile(sdk / "tests" / name, work / "tests" / name)
    shutil.copyfile(sdk / "README.md", work / "README.md")
    (work / "docs" / "source").mkdir(parents=True)
    (work / "runway").symlink_to(ROOT / "runway_bridge" / "compat" / "runway", target_is_directory=True)


def main(argv: list[str]) -> int:
    explicit = None
    if argv[:1] == ["--sdk"]:
        explicit, argv = argv[1], argv[2:]
    sdk = find_sdk(explicit)
    if sdk is None:
        print("old SDK not found: put it at ../shared/runway-model-sdk or set RUNWAY_MODEL_SDK", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="old-sdk-") as tmp:
        work = Path(tmp) / "sdk"  # its parent ('..' on the tests' sys.path) holds nothing else
        prepare(sdk, work)
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio", *(f"tests/{t}" for t in TESTS)]
        cmd += [arg for d in DESELECT for arg in ("--deselect", d)] + argv
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        print(f"old SDK tests from {sdk} (deselected, they download from GitHub: "
              f"{', '.join(d.split('::')[1] for d in DESELECT)})", flush=True)
        return subprocess.run(cmd, cwd=work, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
