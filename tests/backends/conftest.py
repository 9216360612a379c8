"""`backend_kind` runs a test once per backend (cog's `@uses_worker`, uvicorn's auto loops)."""

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

# The docker and remote backends join here once they exist.
KINDS = ["local", "process"]


@pytest.fixture(params=KINDS)
def backend_kind(request) -> str:
    return request.param


@pytest_asyncio.fixture
async def make_backend(backend_kind):
    """`await make_backend(model_dir, options)`: a started backend of this kind, stopped afterwards."""
    made = []

    async def make(model_dir, options=None, **kwargs):
        backend = create(backend_kind, Path(model_dir), **kwargs)
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
