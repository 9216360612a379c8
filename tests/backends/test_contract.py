"""What every backend does the same way, run once per kind by the `backend_kind` fixture."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from runway_bridge.backends import BackendState
from runway_bridge.errors import BadInput, Conflict, InferenceError, NotFound
from runway_bridge.types import Blob, decode_base64, decode_image_bytes

from .conftest import ADAPTERS

IDENTITY = ADAPTERS / "identity"
KITCHEN_SINK = ADAPTERS / "kitchen_sink"
pytestmark = pytest.mark.asyncio


async def test_setup_and_manifest(make_backend, backend_kind):
    backend = await make_backend(IDENTITY, {"label": "hello"})
    assert backend.kind == backend_kind
    assert backend.state is BackendState.RUNNING
    manifest = await backend.manifest()
    assert [c["name"] for c in manifest["commands"]] == ["identity"]
    assert {o["name"] for o in manifest["options"]} == {"label", "delay"}


async def test_binary_call_returns_blobs(make_backend, jpeg_frame):
    backend = await make_backend(IDENTITY, {"label": "hello"})
    timings: dict = {}
    out = await backend.call("identity", {"image": jpeg_frame}, binary=True, timings=timings)
    assert out["label"] == "hello"
    assert isinstance(out["image"], Blob) and out["image"].format == "jpeg"
    back, sent = decode_image_bytes(out["image"].data), decode_image_bytes(jpeg_frame.data)
    assert back.shape == (480, 640, 3)
    assert np.abs(back.astype(int) - sent).mean() < 3  # one more JPEG generation
    assert {"decode", "model", "encode"} <= set(timings)


async def test_json_call_returns_data_uris(make_backend, jpeg_frame):
    backend = await make_backend(IDENTITY)
    out = await backend.call("identity", {"image": jpeg_frame.to_data_uri()}, formats={"image": "PNG"})
    assert out["image"].startswith("data:image/png;base64,")
    assert decode_image_bytes(decode_base64(out["image"])).shape == (480, 640, 3)


@pytest.mark.parametrize("inputs, field", [({}, "image"), ({"image": Blob("jpeg", b"\xff\xd8\xffnot a jpeg")}, "image")])
async def test_bad_input_is_400(make_backend, inputs, field):
    backend = await make_backend(IDENTITY)
    with pytest.raises(BadInput) as e:
        await backend.call("identity", inputs, binary=True)
    assert e.value.status == 400 and e.value.field == field
    assert (await backend.call("identity", {"image": np.zeros((4, 4, 3), np.uint8)}, binary=True))["label"]


async def test_bad_option_is_400(new_backend):
    backend = new_backend(IDENTITY)
    with pytest.raises(BadInput, match="delay"):
        await backend.start({"delay": 99})
    await backend.stop()


async def test_unknown_command_is_404(make_backend):
    backend = await make_backend(IDENTITY)
    with pytest.raises(NotFound) as e:
        await backend.call("nope", {})
    assert e.value.status == 404 and "identity" in e.value.message


async def test_model_error_is_500_and_model_lives_on(make_backend):
    backend = await make_backend(KITCHEN_SINK)
    with pytest.raises(InferenceError, match=r"ValueError\('kaput'\)") as e:
        await backend.call("fail", {"message": "kaput"})
    assert e.value.status == 500
    assert (await backend.call("count", {"steps": 1}))["n"] == 1


async def test_generator_partials(make_backend, backend_kind):
    backend = await make_backend(KITCHEN_SINK)
    seen = []
    out = await backend.call("count", {"steps": 3}, on_partial=lambda o, i: seen.append((o["n"], i)))
    await asyncio.sleep(0)  # local delivers partials with call_soon_threadsafe
    assert out == {"n": 3}
    if backend_kind == "remote":
        # The remote daemon's stream keeps only the newest message for a link that is still busy
        # (latest wins, transports/_outbox.py), so a step may be replaced by the next; the order and the final
        # answer always hold.
        assert seen == sorted(set(seen)) and set(seen) <= {(1, 1), (2, 2)}
    else:
        assert seen == [(1, 1), (2, 2)]


async def test_stop(make_backend):
    backend = await make_backend(IDENTITY)
    await backend.stop()
    assert backend.state is BackendState.STOPPED
    with pytest.raises(Conflict):
        await backend.call("identity", {"image": np.zeros((4, 4, 3), np.uint8)})
