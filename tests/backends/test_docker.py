"""The docker backend, against a real Docker engine.

Skipped (with the reason) when no engine answers, except where CI=true or
RUNWAY_BRIDGE_REQUIRE_DOCKER=1: there a missing engine or base image fails the run. Start the
engine and build the base image with ``scripts/docker-setup.sh``. The images built here are
tagged ``runway-bridge-test/<id>``, from ``runway-bridge/base:bookworm`` (or
RUNWAY_BRIDGE_TEST_BASE_IMAGE), so a user's own images are left alone.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from runway_bridge.backends.base import BackendState
from runway_bridge.backends.docker import DockerBackend
from runway_bridge.docker_build import LOCAL_BASE_IMAGE, build_image, docker_client, read_card
from runway_bridge.errors import BackendUnavailable, BadInput, InferenceError, ModelCrashed, NotFound, SetupError
from runway_bridge.host import Host
from runway_bridge.types import Blob, decode_image_bytes, encode_image

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "adapters"
BASE = os.environ.get("RUNWAY_BRIDGE_TEST_BASE_IMAGE", LOCAL_BASE_IMAGE)
REQUIRED = os.environ.get("CI", "").lower() == "true" or os.environ.get("RUNWAY_BRIDGE_REQUIRE_DOCKER") == "1"
WHY_REQUIRED = "Docker is required here (CI=true or RUNWAY_BRIDGE_REQUIRE_DOCKER=1)"


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"{WHY_REQUIRED}, but {reason}", pytrace=False)
    pytest.skip(f"{reason} (RUNWAY_BRIDGE_REQUIRE_DOCKER=1 makes this a failure)")


@pytest.fixture(scope="module")
def engine():
    try:
        client = docker_client(timeout=60)
    except BackendUnavailable as e:
        _unavailable(e.message)
    import docker.errors

    try:
        client.images.get(BASE)
    except docker.errors.ImageNotFound:
        client.close()
        _unavailable(f"the base image {BASE} is missing; build it with scripts/docker-setup.sh")
    yield client
    # Every test's containers are gone, including those that failed to start.
    left = [c.name for c in client.containers.list(all=True, filters={"label": "org.runway-bridge.model"})
            if any(t.startswith("runway-bridge-test/") for t in c.image.tags)]
    client.close()
    assert not left, f"containers left behind: {left}"


@pytest.fixture(scope="module")
def images(engine):
    """Build the fixture adapters' images (seconds once the dependency layer is cached)."""
    lines: list[str] = []
    tags = {}
    for name in ("identity", "kitchen_sink", "memory_hog", "setup_crash"):
        tags[name] = build_image(FIXTURES / name, None, BASE, f"runway-bridge-test/{name}:latest", lines.append,
                                 client=engine)
    assert any(line.startswith("Step ") for line in lines), lines[:5]  # progress reached the caller
    return tags


def backend(name: str, images: dict, **kwargs) -> DockerBackend:
    return DockerBackend(FIXTURES / name, read_card(FIXTURES / name), image=images[name], **kwargs)


@pytest.fixture
async def cleanup():
    """Backends to stop at the end, whatever the test did."""
    started: list[DockerBackend] = []
    yield started
    for b in started:
        if b.state is not BackendState.STOPPED:
            await b.stop()


def gradient(h: int = 48, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)


# -- the real thing --------------------------------------------------------------------------

async def test_identity_runs_in_a_container(engine, images, cleanup):
    seen: list[str] = []
    b = backend("identity", images, on_health=seen.append)
    cleanup.append(b)
    await b.start({"label": "in a box", "delay": 1.0})
    assert seen == ["STARTING", "RUNNING"]  # STARTING was visible while setup slept
    assert b.state is BackendState.RUNNING and b.health == "RUNNING"

    c = engine.containers.get(b.container.id)
    host_config = c.attrs["HostConfig"]
    assert host_config["Memory"] == 512 * 1024 * 1024  # [docker] memory = "512m" from the card
    assert host_config["Init"] is True and host_config["NetworkMode"] == "host"
    assert c.labels["org.runway-bridge.model"] == "identity"

    pixels = gradient()
    png = Blob("png", encode_image(pixels, "png"))
    out = await b.call("identity", {"image": png}, binary=True, formats={"image": "png"})
    assert out["label"] == "in a box"
    assert isinstance(out["image"], Blob) and out["image"].format == "png"
    assert np.array_equal(decode_image_bytes(out["image"].data), pixels)

    timings: dict = {}
    out = await b.call("identity", {"image": png.to_data_uri()}, timings=timings)  # JSON in, data URI out
    assert out["image"].startswith("data:image/jpeg;base64,") and timings["model"] > 0

    with pytest.raises(BadInput, match="image"):
        await b.call("identity", {})
    with pytest.raises(NotFound, match="nope"):
        await b.call("nope", {"image": png})

    manifest = await b.manifest()
    assert [c["name"] for c in manifest["commands"]] == ["identity"]

    await b.stop()
    assert b.state is BackendState.STOPPED and b.container is None
    import docker.errors

    with pytest.raises(docker.errors.NotFound):
        engine.containers.get(c.id)


async def test_identity_through_a_host(images, cleanup):
    """The host (queue, streams, fan-out) drives the container like any other backend."""
    b = backend("identity", images)
    cleanup.append(b)
    host = Host("identity", b)
    await host.start({"label": "hosted"})
    assert host.state.value == "RUNNING", host.error
    assert host.default_command == "identity"
    result = await host.call(None, {"image": Blob("png", encode_image(gradient(), "png"))})
    assert result.outputs["label"] == "hosted"
    await host.stop()
    assert b.container is None


async def test_manifest_from_the_image_without_starting(images):
    b = backend("identity", images)
    manifest = await b.manifest()
    assert [o["name"] for o in manifest["options"]] == ["label", "delay"]
    assert manifest["commands"][0]["inputs"][0]["type"] == "image"


async def test_container_killed_while_running_is_reported(engine, images, cleanup):
    b = backend("identity", images)
    cleanup.append(b)
    await b.start({})
    engine.containers.get(b.container.id).kill()
    with pytest.raises(ModelCrashed, match="exited with code 137"):
        await b.call("identity", {"image": Blob("png", encode_image(gradient(), "png"))})


async def test_port_taken_before_the_container_binds_it(images, cleanup, monkeypatch):
    import socket

    import runway_bridge.backends.docker as docker_backend

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1]])
        real = docker_backend._free_port
        monkeypatch.setattr(docker_backend, "_free_port", lambda host: next(ports, None) or real(host))
        b = backend("identity", images)
        cleanup.append(b)
        await b.start({})  # the first container cannot listen; the second gets a free port
        assert b.url != f"http://127.0.0.1:{taken.getsockname()[1]}"
        assert (await b.call("identity", {"image": Blob("png", encode_image(gradient(), "png"))}))["label"]


async def test_generator_steps_arrive_over_the_job_socket(images, cleanup):
    """With on_partial, calls run as jobs on the container's WebSocket (one socket, reused)."""
    b = backend("kitchen_sink", images)
    cleanup.append(b)
    await b.start({})
    seen: list = []
    timings: dict = {}
    out = await b.call("count", {"steps": 3}, on_partial=lambda o, i: seen.append((o["n"], i)), timings=timings)
    assert out == {"n": 3} and seen == [(1, 1), (2, 2)] and timings["model"] > 0
    ws = b._ws
    assert ws is not None and not ws.closed
    assert (await b.call("count", {"steps": 2}))["n"] == 2  # no on_partial: plain POST, last step only

    # image outputs (and their formats) are converted like the HTTP path's, steps included
    rgba = np.dstack([gradient(), np.full((48, 64), 200, np.uint8)])
    out = await b.call("mask", {"image": Blob("png", encode_image(rgba, "png"))}, binary=True,
                       formats={"alpha": "png"}, on_partial=seen.append)
    assert isinstance(out["alpha"], Blob) and out["alpha"].format == "png"
    assert np.array_equal(decode_image_bytes(out["alpha"].data), rgba[:, :, 3])

    # errors map as over HTTP, the field included
    noop = lambda o, i: None  # noqa: E731
    with pytest.raises(InferenceError, match=r"ValueError\('kaput'\)"):
        await b.call("fail", {"message": "kaput"}, on_partial=noop)
    with pytest.raises(BadInput) as e:
        await b.call("count", {"steps": 99}, on_partial=noop)
    assert e.value.field == "steps"
    with pytest.raises(NotFound, match="nope"):
        await b.call("nope", {}, on_partial=noop)
    assert b._ws is ws  # every job went over the same socket

    # a caller that gives up cancels its job: no more steps reach it, and the socket lives on
    steps: list = []
    task = asyncio.ensure_future(b.call("count", {"steps": 30, "delay": 0.05}, on_partial=lambda o, i: steps.append(i)))
    while not steps:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after = len(steps)
    out = await b.call("count", {"steps": 2}, on_partial=lambda o, i: seen.append(i))
    assert out == {"n": 2} and len(steps) == after
    assert b._ws is ws and not b._jobs

    await b.stop()
    assert b._ws is None and ws.closed


async def test_container_killed_during_a_job_is_reported(engine, images, cleanup):
    b = backend("kitchen_sink", images)
    cleanup.append(b)
    await b.start({})
    steps: list = []
    task = asyncio.ensure_future(b.call("count", {"steps": 50, "delay": 0.1}, on_partial=lambda o, i: steps.append(i)))
    while not steps:
        await asyncio.sleep(0.01)
    engine.containers.get(b.container.id).kill()
    with pytest.raises(ModelCrashed, match="exited with code 137|lost the connection"):
        await asyncio.wait_for(task, 10)


# -- errors that say what to do ------------------------------------------------------------

async def test_memory_limit_too_low_is_named(images, cleanup):
    b = backend("memory_hog", images)  # allocates ~300 MB in setup, its card allows 64m
    cleanup.append(b)
    with pytest.raises(SetupError) as info:
        await b.start({})
    msg = info.value.message
    assert "memory limit 64m is too low for this model" in msg and "raise [docker] memory in the card" in msg
    assert b.state is BackendState.FAILED and b.container is None  # the dead container was removed


async def test_setup_failure_shows_container_logs(images, cleanup):
    b = backend("setup_crash", images)
    cleanup.append(b)
    with pytest.raises(SetupError) as info:
        await b.start({})
    assert "FileNotFoundError" in info.value.message
    assert "loading weights from /missing/weights.bin" in info.value.message  # the model's own log line


async def test_missing_image_offers_the_build_command(engine):
    b = DockerBackend(FIXTURES / "identity", read_card(FIXTURES / "identity"),
                      image="runway-bridge-test/never-built:latest")
    with pytest.raises(SetupError, match="build it with: runway-bridge build identity"):
        await b.start({})


async def test_gpus_without_a_gpu_runtime_say_so(engine, images):
    info = engine.info()
    if "nvidia" in (info.get("Runtimes") or {}):
        pytest.skip("this engine has the NVIDIA runtime")
    b = backend("identity", images, gpus="all")
    assert b.gpu
    with pytest.raises(BackendUnavailable, match="asks for GPUs"):
        await b.start({})


# -- no engine, no SDK (these run everywhere) ------------------------------------------------

async def test_engine_not_running(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/dead.sock")
    b = DockerBackend(FIXTURES / "identity", read_card(FIXTURES / "identity"))
    with pytest.raises(BackendUnavailable, match=r"engine is not running.*sudo dockerd"):
        await b.start({})
    assert b.state is BackendState.FAILED


async def test_sdk_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "docker", None)
    b = DockerBackend(FIXTURES / "identity", read_card(FIXTURES / "identity"))
    with pytest.raises(BackendUnavailable, match="pip install docker"):
        await b.start({})


def test_card_settings():
    card = {"id": "x", "docker": {"memory": "3g", "gpus": 2, "image": "me/x:1"}}
    b = DockerBackend(Path("adapters/x"), card)
    assert (b.memory, b.gpus, b.gpu, b.image) == ("3g", 2, True, "me/x:1")
    b = DockerBackend(Path("adapters/x"), {"id": "x"})
    assert (b.memory, b.gpus, b.gpu, b.image) == ("4g", 0, False, "runway-bridge/x:latest")
    with pytest.raises(BadInput, match="memory"):
        DockerBackend(Path("adapters/x"), {"id": "x", "docker": {"memory": "lots"}})


def test_dockerfile_layers_and_base():
    from runway_bridge.docker_build import dockerfile

    text = dockerfile("python:3.11-slim", "x", has_requirements=True, has_cert=False, pip_args=["PIP_INDEX_URL"])
    lines = text.splitlines()
    assert lines[1] == "FROM python:3.11-slim" and "ARG PIP_INDEX_URL" in lines
    # dependencies before sources, so editing model.py rebuilds in seconds
    assert text.index("requirements-bridge.txt") < text.index("requirements-adapter.txt") < text.index("COPY adapter")
    assert lines[-1] == 'CMD ["runway-bridge", "run", "/adapter"]'

