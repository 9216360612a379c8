"""Build a Docker image for one adapter: `runway-bridge build ID`.

The image holds a virtual environment with runway_bridge's own dependencies and the card's
``[requirements] python`` list (and ``python_no_deps``, installed with ``pip --no-deps``, for a
package such as mediapipe whose declared requirements must not come along), this runway_bridge
source, and the adapter folder at
``/adapter``. Its command serves the model-server protocol (``runway-bridge run /adapter``), so
the docker backend talks to it like to any model server.

Layers go from what changes least to what changes most (bridge dependencies, the adapter's
dependencies, the bridge source, the adapter), so rebuilding after editing ``model.py`` takes
seconds. ``pip`` inside the build reaches the package index the way the host's pip does: the
index URLs, trusted hosts and CA bundle of the host's pip configuration, and its proxy
variables, are carried into the build (read at build time, never written into the source).

No image registry is needed when the base image is already local (`scripts/docker-setup.sh`
builds ``runway-bridge/base:bookworm`` from Debian packages); the default base for users is
``python:3.11-slim``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .errors import BackendUnavailable, BadInput, BridgeError, NotFound

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

__all__ = ["DEFAULT_BASE_IMAGE", "LOCAL_BASE_IMAGE", "build_image", "docker_client", "dockerfile", "image_tag",
           "read_card"]

DEFAULT_BASE_IMAGE = "python:3.11-slim"
LOCAL_BASE_IMAGE = "runway-bridge/base:bookworm"  # made by scripts/docker-setup.sh, no registry needed
ADAPTER_PATH = "/adapter"
VENV = "/opt/runway-bridge/venv"
SRC = "/opt/runway-bridge/src"
_PKG_ROOT = Path(__file__).resolve().parent
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".git", "*.egg-info")


def image_tag(card_or_id: dict | str) -> str:
    """The image a model runs in: the card's ``[docker] image``, else ``runway-bridge/<id>:latest``."""
    if isinstance(card_or_id, str):
        return f"runway-bridge/{card_or_id.lower()}:latest"
    image = (card_or_id.get("docker") or {}).get("image")
    return image or image_tag(str(card_or_id.get("id") or "model"))


def read_card(adapter_dir: str | Path) -> dict:
    """The adapter's ``model.toml`` as a dict (empty when there is none); id defaults to the folder name."""
    adapter_dir = Path(adapter_dir)
    path = adapter_dir / "model.toml"
    card = {}
    if path.is_file():
        try:
            card = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise BadInput(f"{path}: {e}") from None
    card.setdefault("id", adapter_dir.name)
    return card


def docker_client(timeout: int = 120):
    """A Docker SDK client, or a clear error saying what to install or start."""
    try:
        import docker
        import docker.errors
    except ImportError:
        raise BackendUnavailable(
            f"the Docker SDK for Python is not installed: {sys.executable} -m pip install docker") from None
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, OSError) as e:  # requests' errors are OSErrors
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise BackendUnavailable(
            f"the Docker engine is not running (nothing answers at {where}: {_short(e)}); "
            "start it with: sudo dockerd (or scripts/docker-setup.sh)") from None
    return client


def _has_image(client, name: str) -> bool:
    import docker.errors

    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[-1] if text else type(e).__name__)[:200]


# -- what goes into the image -------------------------------------------------------------

def _bridge_requirements() -> tuple[list[str], str]:
    """runway_bridge's own dependencies and its console entry point, from pyproject or metadata."""
    pyproject = _PKG_ROOT.parent / "pyproject.toml"
    deps: list[str] = []
    entry = "runway_bridge.cli:main"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text()).get("project", {})
        deps = list(project.get("dependencies", []))
        entry = project.get("scripts", {}).get("runway-bridge", entry)
    else:
        try:
            dist = importlib.metadata.distribution("runway-bridge")
            deps = [r for r in (dist.requires or []) if "extra ==" not in r]
            entry = next((ep.value for ep in dist.entry_points if ep.name == "runway-bridge"), entry)
        except importlib.metadata.PackageNotFoundError:
            pass
    return deps, entry


def _pip_settings() -> tuple[dict[str, str], Path | None]:
    """The host pip's index, trusted hosts and CA bundle, as ``PIP_*`` values for the build.

    Local indexes (``file://``, folders) cannot be reached from inside a build and are dropped.
    """
    values: dict[str, str] = {}
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], check=False, capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for line in out.splitlines():  # e.g.  global.extra-index-url='https://a https://b'
        m = re.match(r"^[^.]+\.([a-z-]+)='(.*)'$", line.strip())
        if m:
            values[m.group(1)] = m.group(2)
    for key in ("index-url", "extra-index-url", "trusted-host", "cert"):
        env = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if env:
            values[key] = env
    settings: dict[str, str] = {}
    for key in ("index-url", "extra-index-url"):
        urls = [u for u in values.get(key, "").split() if re.match(r"^https?://", u)]
        if urls:
            settings["PIP_" + key.upper().replace("-", "_")] = " ".join(urls)
    if values.get("trusted-host"):
        settings["PIP_TRUSTED_HOST"] = values["trusted-host"]
    cert = Path(values["cert"]) if values.get("cert") else None
    return settings, cert if cert and cert.is_file() else None


# A container has no display libraries: when some package pulled in the GUI build of OpenCV
# (opencv-python needs libGL; both builds write cv2/), put the headless build of the same version
# back on top. Does nothing when cv2 imports or is not installed.
_HEADLESS_OPENCV = """\
python -c "import cv2" 2>/dev/null && exit 0
v=$(pip show opencv-python-headless opencv-python opencv-contrib-python 2>/dev/null | awk '/^Version:/ {print $2; exit}')
[ -n "$v" ] || exit 0
echo "cv2 does not import here (no libGL in a container): installing opencv-python-headless==$v over it"
pip uninstall -y -q opencv-python opencv-contrib-python opencv-python-headless
pip install -q --no-deps "opencv-python-headless==$v"
python -c "import cv2; print('cv2', cv2.__version__, 'imports')"
"""


def _proxy_args() -> dict[str, str]:
    names = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
    return {n: os.environ[n] for n in names if os.environ.get(n)}


def dockerfile(base_image: str, model_id: str, *, has_requirements: bool, has_cert: bool,
               pip_args: list[str], has_no_deps: bool = False) -> str:
    """The generated Dockerfile (kept readable: `runway-bridge build --dockerfile` may show it)."""
    lines = [
        "# Generated by runway-bridge build; edits are overwritten.",
        f"FROM {base_image}",
        *(f"ARG {a}" for a in pip_args),
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \\",
        "    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore",
    ]
    if has_cert:
        lines += ["COPY pip-ca.crt /opt/runway-bridge/pip-ca.crt",
                  "ENV PIP_CERT=/opt/runway-bridge/pip-ca.crt"]
    lines += [
        f"RUN python3 -m venv {VENV}",
        f"ENV PATH={VENV}/bin:$PATH VIRTUAL_ENV={VENV}",
        "COPY requirements-bridge.txt /opt/runway-bridge/",
        "RUN pip install -r /opt/runway-bridge/requirements-bridge.txt",
    ]
    if has_requirements:
        lines += ["COPY requirements-adapter.txt /opt/runway-bridge/",
                  "RUN pip install -r /opt/runway-bridge/requirements-adapter.txt"]
    if has_no_deps:  # packages whose declared requirements must not come along (mediapipe: jax, a 2nd OpenCV)
        lines += ["COPY requirements-no-deps.txt /opt/runway-bridge/",
                  "RUN pip install --no-deps -r /opt/runway-bridge/requirements-no-deps.txt"]
    lines += ["COPY headless-opencv.sh /opt/runway-bridge/", "RUN sh /opt/runway-bridge/headless-opencv.sh"]
    # The bridge goes in as source on the path (a .pth file) plus its console script: no build
    # backend to fetch, and the same for a source checkout and an installed wheel.
    lines += [
        f"COPY runway_bridge {SRC}/runway_bridge",
        f"COPY runway_bridge.pth runway-bridge {SRC}/",
        f"RUN cp {SRC}/runway_bridge.pth \"$(python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')\" \\",
        f"    && install -m 755 {SRC}/runway-bridge {VENV}/bin/runway-bridge",
        f"COPY adapter {ADAPTER_PATH}",
        f"LABEL org.runway-bridge.model={json.dumps(model_id)}",
        "ENV RW_HOST=127.0.0.1 RW_PORT=9000",
        f'CMD ["runway-bridge", "run", "{ADAPTER_PATH}"]',
    ]
    return "\n".join(lines) + "\n"


def _context(ctx: Path, adapter_dir: Path, card: dict, base_image: str) -> tuple[str, dict]:
    """Fill the build context folder; returns the Dockerfile text and the build args."""
    deps, entry = _bridge_requirements()
    reqs = [str(r) for r in (card.get("requirements") or {}).get("python", [])]
    no_deps = [str(r) for r in (card.get("requirements") or {}).get("python_no_deps", [])]
    if no_deps:
        (ctx / "requirements-no-deps.txt").write_text("\n".join(no_deps) + "\n")
    pip_env, cert = _pip_settings()
    buildargs = {**pip_env, **_proxy_args()}
    (ctx / "requirements-bridge.txt").write_text("\n".join(deps) + "\n")
    if reqs:
        (ctx / "requirements-adapter.txt").write_text("\n".join(reqs) + "\n")
    if cert:
        shutil.copyfile(cert, ctx / "pip-ca.crt")
    (ctx / "headless-opencv.sh").write_text(_HEADLESS_OPENCV)
    shutil.copytree(_PKG_ROOT, ctx / "runway_bridge", ignore=_SKIP)
    (ctx / "runway_bridge.pth").write_text(SRC + "\n")
    module, _, func = entry.partition(":")
    (ctx / "runway-bridge").write_text(
        f"#!{VENV}/bin/python\nimport sys\n\nfrom {module} import {func}\n\nsys.exit({func}())\n")
    shutil.copytree(adapter_dir, ctx / "adapter", ignore=_SKIP)
    text = dockerfile(base_image, str(card["id"]), has_requirements=bool(reqs), has_no_deps=bool(no_deps),
                      has_cert=cert is not None, pip_args=sorted(buildargs))
    (ctx / "Dockerfile").write_text(text)
    return text, buildargs


def build_image(adapter_dir: str | Path, card: dict | None = None, base_image: str | None = None,
                tag: str | None = None, progress: Callable[[str], None] | None = print, *,
                client=None) -> str:
    """Build the adapter's image and return its tag; `progress` gets one line at a time.

    `base_image` defaults to the card's ``[docker] base``, then ``RUNWAY_BRIDGE_BASE_IMAGE``,
    then ``python:3.11-slim``. Python packages are installed over the host network
    (``docker build --network host``). Raises `BackendUnavailable` when Docker is not there,
    `NotFound` when the base image is neither local nor pullable, `BridgeError` when a step fails.
    """
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "model.py").is_file():
        raise NotFound(f"no adapter at {adapter_dir} (it needs a model.py)")
    card = dict(card) if card else read_card(adapter_dir)
    card.setdefault("id", adapter_dir.name)
    base_image = (base_image or (card.get("docker") or {}).get("base")
                  or os.environ.get("RUNWAY_BRIDGE_BASE_IMAGE") or DEFAULT_BASE_IMAGE)
    tag = tag or image_tag(card)
    say = progress or (lambda line: None)
    client = client or docker_client(timeout=600)

    import docker.errors

    try:
        client.images.get(base_image)
    except docker.errors.ImageNotFound:
        say(f"base image {base_image} is not here; pulling it")
        try:
            client.images.pull(base_image)
        except docker.errors.APIError as e:
            if base_image == DEFAULT_BASE_IMAGE and _has_image(client, LOCAL_BASE_IMAGE):
                say(f"cannot pull {base_image} ({_short(e)}); using the local {LOCAL_BASE_IMAGE} instead")
                base_image = LOCAL_BASE_IMAGE
                return build_image(adapter_dir, card, base_image, tag, progress, client=client)
            raise NotFound(
                f"base image {base_image} is missing and cannot be pulled ({_short(e)}); build a local one "
                f"with scripts/docker-setup.sh and pass --base {LOCAL_BASE_IMAGE}") from None

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="runway-bridge-build-") as tmp:
        ctx = Path(tmp)
        _, buildargs = _context(ctx, adapter_dir, card, base_image)
        say(f"building {tag} from {base_image} (adapter {adapter_dir})")
        tail: list[str] = []
        try:
            for chunk in client.api.build(path=str(ctx), tag=tag, network_mode="host", buildargs=buildargs,
                                          rm=True, forcerm=True, decode=True):
                if "error" in chunk:
                    detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                    last = "\n".join(tail[-15:])
                    raise BridgeError(f"building {tag} failed: {detail.strip()}\n{last}")
                for line in str(chunk.get("stream") or chunk.get("status") or "").splitlines():
                    if line.strip():
                        tail.append(line.rstrip())
                        del tail[:-40]
                        say(line.rstrip())
        except docker.errors.APIError as e:
            raise BridgeError(f"building {tag} failed: {_short(e)}") from None
    say(f"built {tag} in {time.perf_counter() - t0:.1f} s")
    return tag
