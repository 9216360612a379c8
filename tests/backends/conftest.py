"""`backend_kind` runs a test once per backend (cog's `@uses_worker`, uvicorn's auto loops).

The remote kind runs each model on a daemon of its own (one per session, started on first use,
with the fixture adapters and a token), reached through `RemoteBackend` as a laptop would.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import pytest_asyncio

from runway_bridge.backends import create
from runway_bridge.types import Blob

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ADAPTERS = FIXTURES / "adapters"

# The docker backend has its own tests (tests/backends/test_docker.py): it needs an engine and images.
KINDS = ["local", "process", "remote"]
REMOTE_TOKEN = "tok-contract-3b8e51f0a9c2"


@pytest.fixture(params=KINDS)
def backend_kind(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def remote_daemon(tmp_path_factory):
    """A token-protected daemon serving the fixture adapters, identity on its local backend."""
    from conftest import launch_daemon  # tests/conftest.py

    server = launch_daemon(tmp_path_factory.mktemp("remote"), args=["--backend", "identity=local"],
                           token=REMOTE_TOKEN)
    yield server
    server.stop()


@pytest.fixture
def new_backend(backend_kind, request):
    """`new_backend(model_dir)`: a backend of this kind for the adapter in `model_dir`, not started."""
    server = request.getfixturevalue("remote_daemon") if backend_kind == "remote" else None

    def new(model_dir, **kwargs):
        if server is not None:
            model_id = Path(model_dir).name
            card = {"id": model_id, "remote": {"url": server.url, "id": model_id}}
            return create("remote", None, card, token=REMOTE_TOKEN, **kwargs)
        return create(backend_kind, Path(model_dir), **kwargs)

    return new


@pytest_asyncio.fixture
async def make_backend(new_backend):
    """`await make_backend(model_dir, options)`: a started backend of this kind, stopped afterwards."""
    made = []

    async def make(model_dir, options=None, **kwargs):
        backend = new_backend(model_dir, **kwargs)
        made.append(backend)
        await backend.start(options or {})
        return backend

    yield make
    for backend in made:
        if backend.state.value != "STOPPED":
            await backend.stop()


@pytest.fixture(scope="session")
def jpeg_frame() -> Blob:
    """A 640x480 JPEG with structure (gradients), so round trips can be compared."""
    y, x = np.mgrid[0:480, 0:640]
    rgb = np.stack([x * 255 // 639, y * 255 // 479, (x + y) * 255 // 1118], axis=2).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return Blob("jpeg", buf.tobytes())
