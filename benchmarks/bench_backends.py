"""Per-frame overhead of each backend on the identity model, in one run.

    .venv/bin/python benchmarks/bench_backends.py [--runs 300] [--skip docker,remote]

One caller in lockstep sends a 640x480 JPEG (q80) as a binary input through `Host.call` (the
path every transport takes) to the fixture ``identity`` model, which decodes it, returns it and
has it encoded again (JPEG out), on each backend:

- local: a thread in this process: the floor (JPEG decode + encode + the host's scheduling).
- process: a spawned worker; frames cross a socket pair as bytes.
- docker: a container serving the model-server protocol over the host network (HTTP, base64
  JSON); only when a Docker engine answers (scripts/docker-setup.sh starts one). Its image is
  built first if missing (~30 s the first time, seconds once cached).
- remote: a second daemon (subprocess, ``--token``) on loopback; frames go over its WebSocket
  fast path (binary frames), and the model runs there on its local backend.

Backends are measured in interleaved rounds so drift on a shared machine hits them alike. Prints
median and p99 per backend and the overhead over local at each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time

from _common import FIXTURE_ADAPTERS as ADAPTERS
from _common import frame, serve
from _common import median_p99 as stats

from runway_bridge.backends import create
from runway_bridge.errors import BridgeError
from runway_bridge.host import Host
from runway_bridge.types import Blob

IDENTITY = ADAPTERS / "identity"
TOKEN = "bench-" + os.urandom(8).hex()
KINDS = ("local", "process", "docker", "remote")


def start_remote() -> tuple[subprocess.Popen, str]:
    return serve("--token", TOKEN, "--backend", "identity=local", ready="/healthz")


def docker_image() -> tuple[str | None, str]:
    """The identity image's tag, built if missing; (None, why) when Docker is not usable."""
    try:
        from runway_bridge.docker_build import LOCAL_BASE_IMAGE, build_image, docker_client
        client = docker_client(timeout=600)
    except (ImportError, BridgeError) as e:
        return None, getattr(e, "message", str(e))
    import docker.errors

    tag = "runway-bridge-bench/identity:latest"
    try:
        try:
            client.images.get(LOCAL_BASE_IMAGE)
            base = LOCAL_BASE_IMAGE
        except docker.errors.ImageNotFound:
            base = None
        t0 = time.perf_counter()
        build_image(IDENTITY, None, base, tag, progress=None, client=client)
        print(f"  docker image {tag} ready in {time.perf_counter() - t0:.1f} s", flush=True)
        return tag, ""
    except BridgeError as e:
        return None, e.message
    finally:
        client.close()


async def make_host(kind: str, remote_url: str | None, image: str | None) -> Host:
    if kind == "remote":
        backend = create("remote", None, {"id": "identity", "remote": {"url": remote_url, "id": "identity"}},
                         token=TOKEN)
    elif kind == "docker":
        backend = create("docker", IDENTITY, {"id": "identity", "docker": {"memory": "512m"}}, image=image)
    else:
        backend = create(kind, IDENTITY, {"id": "identity"})
    host = Host(kind, backend, default_command="identity")
    await host.start({"label": "bench"})
    if host.error is not None:
        raise host.error
    return host


async def run(runs: int, rounds: int, skip: set[str]) -> None:
    jpg = frame()
    print(f"frame: 640x480 JPEG q80, {len(jpg)} bytes; {runs} calls per backend in {rounds} interleaved rounds")
    kinds = [k for k in KINDS if k not in skip]
    remote_proc = remote_url = image = None
    notes: dict[str, str] = {}
    if "docker" in kinds:
        image, why = await asyncio.to_thread(docker_image)
        if image is None:
            notes["docker"] = f"skipped: {why}"
            kinds.remove("docker")
    if "remote" in kinds:
        remote_proc, remote_url = start_remote()
    hosts: dict[str, Host] = {}
    try:
        for kind in kinds:
            t0 = time.perf_counter()
            hosts[kind] = await make_host(kind, remote_url, image)
            print(f"  {kind} backend up in {time.perf_counter() - t0:.2f} s", flush=True)
        inputs = {"image": Blob("jpeg", jpg)}
        for host in hosts.values():  # warm up: first calls pay for imports and connections
            for _ in range(20):
                await host.call(None, inputs)
        samples: dict[str, list[float]] = {k: [] for k in hosts}
        per_round = max(1, runs // rounds)
        for _ in range(rounds):
            for kind, host in hosts.items():
                for _ in range(per_round):
                    t0 = time.perf_counter()
                    result = await host.call(None, inputs)
                    samples[kind].append((time.perf_counter() - t0) * 1000)
                    assert result.outputs["label"] == "bench" and isinstance(result.outputs["image"], Blob)
    finally:
        for host in hosts.values():
            await host.stop()
        if remote_proc is not None:
            remote_proc.terminate()
            remote_proc.wait(10)

    floor = stats(samples["local"]) if "local" in samples else (0.0, 0.0)
    print()
    print(f"{'backend':<9} {'median ms':>10} {'p99 ms':>8} {'+median vs local':>17} {'+p99 vs local':>14}")
    print("-" * 62)
    for kind in KINDS:
        if kind in samples:
            med, p99 = stats(samples[kind])
            print(f"{kind:<9} {med:>10.2f} {p99:>8.2f} {med - floor[0]:>+17.2f} {p99 - floor[1]:>+14.2f}")
        else:
            print(f"{kind:<9} {notes.get(kind, 'skipped')}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=300, help="calls per backend (default 300)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--skip", default="", help="comma-separated backends to leave out")
    args = p.parse_args()
    asyncio.run(run(args.runs, args.rounds, {s for s in args.skip.split(",") if s}))


if __name__ == "__main__":
    main()
