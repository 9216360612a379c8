"""Server CPU per frame on the Runway HTTP path, against the old Runway SDK and the codec floor.

    .venv/bin/python benchmarks/bench_throughput.py [--requests 400] [--rounds 5] [--clients 8]
                                                    [--replicas identity=2] [--skip-old]

Identity model, a 640x480 JPEG q80, ``POST`` JSON ``{"image": data URI}`` -> ``{"image": data URI}``
over keep-alive connections. Each server runs pinned to one core and the client (this process)
to the other; server CPU is the server process's utime + stime from /proc around N requests.
- (a) the old Runway SDK (runway-python 0.6.1 from ../shared/runway-model-sdk, installed into its
  own venv under ~/.cache/runway-bridge/old-sdk-venv on first run), serving the same model;
- (b) the daemon's ``/query`` (``runway-bridge serve`` with the identity adapter, local backend);
- (c) the codec floor: base64-decode + JPEG-decode + JPEG-encode + base64-encode of the frame, with
  the codec the daemon uses (`runway_bridge._codec`), in a process pinned the same way;
- for reference, a bare aiohttp server (benchmarks/_echo.py ``/query``) doing only that codec
  work inline: what any server on this stack pays (HTTP, loopback, caches cooled between frames).
Rounds interleave the three; medians over rounds. Then throughput with 8 clients: the daemon
pinned to one core against the daemon on both. Budgets (issue 12): daemon/old SDK <= 0.5,
daemon/floor <= 1.3, two cores / one core >= 1.8.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import FIXTURE_ADAPTERS, ROOT, frame, free_port, start

sys.path.insert(0, str(ROOT / "scripts"))
from old_sdk_tests import FIXES, find_sdk  # noqa: E402

OLD_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "runway-bridge" / "old-sdk-venv"
# What the SDK's requirements.txt names, held to the versions of its last release year where
# newer ones dropped what it imports (werkzeug.serving's run_with_reloader, Flask 2.0's JSON API).
OLD_REQUIREMENTS = ["Flask>=0.12.2,<2.3", "werkzeug<2.3", "Flask-Cors", "Flask-Compress", "numpy", "Pillow",
                    "gevent", "gevent-websocket", "six", "colorcet", "Flask-Sockets==0.2.1", "scipy",
                    "urllib3", "certifi", "Unidecode", "imageio"]
OLD_MODEL = '''
import sys
import runway
from runway.data_types import image, text

@runway.command("query", inputs={"image": image()}, outputs={"image": image(), "label": text()})
def query(model, inputs):
    return {"image": inputs["image"], "label": "identity"}

runway.run(host="127.0.0.1", port=int(sys.argv[1]), model_options={})
'''
TICK = os.sysconf("SC_CLK_TCK")


def old_sdk() -> tuple[Path, Path]:
    """(python, source folder) of the old SDK: its own venv, made once, and a copy of its
    ``runway/`` package with the two Python 3.9+ fixes its ABOUT.md names."""
    sdk = find_sdk()
    if sdk is None:
        raise SystemExit("old SDK not found: put it at ../shared/runway-model-sdk or set RUNWAY_MODEL_SDK")
    py = OLD_VENV / "bin" / "python"
    if not py.exists():
        print(f"building the old SDK's venv at {OLD_VENV} (once)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(OLD_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *OLD_REQUIREMENTS], check=True)
    src = OLD_VENV / "sdk"
    for f in (sdk / "runway").rglob("*.py"):
        text = f.read_text()
        for old, new in FIXES:
            text = text.replace(old, new)
        dest = src / "runway" / f.relative_to(sdk / "runway")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists() or dest.read_text() != text:
            dest.write_text(text)
    return py, src


def cpu_s(pid: int) -> float:
    """utime + stime of a process, its threads (live and exited) included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def pinned(core: int | None):
    return None if core is None else (lambda: os.sched_setaffinity(0, {core}))


# -- the client: raw keep-alive HTTP/1.1, so its own cost stays small beside the server's ------


class Conn:
    def __init__(self, reader, writer):
        self.r, self.w = reader, writer

    async def post(self, request: bytes) -> bytes:
        self.w.write(request)
        head = await self.r.readuntil(b"\r\n\r\n")
        status = head[9:12]
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)}
        if b"content-length" in headers:
            body = await self.r.readexactly(int(headers[b"content-length"]))
        else:  # chunked
            body = b""
            while True:
                size = int((await self.r.readline()).strip(), 16)
                chunk = await self.r.readexactly(size + 2)
                if not size:
                    break
                body += chunk[:-2]
        if status != b"200" or not body.startswith(b'{"') or b'data:image/jpeg;base64,' not in body:
            raise RuntimeError(f"bad answer {status!r}: {body[:200]!r}")
        return body


async def connect(url: str, n: int) -> list[Conn]:
    host, port = url.removeprefix("http://").split(":")
    return [Conn(*await asyncio.open_connection(host, int(port))) for _ in range(n)]


def request_bytes(url: str, path: str, body: bytes) -> bytes:
    host = url.removeprefix("http://")
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def drive(conns: list[Conn], request: bytes, total: int) -> float:
    """`total` requests spread over the connections, each in lockstep; returns wall seconds."""
    left = [total]

    async def loop(c: Conn):
        while left[0] > 0:
            left[0] -= 1
            await c.post(request)

    t0 = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in conns))
    return time.perf_counter() - t0


async def measure(url: str, path: str, body: bytes, n: int, clients: int, pid: int) -> tuple[float, float, float]:
    """(server CPU ms per frame, frames per second, client CPU ms per frame) over `n` requests
    after a warm-up."""
    conns = await connect(url, clients)
    req = request_bytes(url, path, body)
    try:
        await drive(conns, req, 20 * clients)
        c0, mine = cpu_s(pid), time.process_time()
        wall = await drive(conns, req, n)
        return (cpu_s(pid) - c0) * 1000 / n, n / wall, (time.process_time() - mine) * 1000 / n
    finally:
        for c in conns:
            c.w.close()


# -- the floor -------------------------------------------------------------------------------


def floor_child(n: int) -> None:
    """Run in a pinned child: CPU ms per frame of the four codec steps the path cannot avoid."""
    from runway_bridge import _codec

    uri = "data:image/jpeg;base64," + base64.b64encode(frame()).decode()
    b64 = uri.split(",", 1)[1]

    def once():
        pixels = _codec.jpeg_decode(_codec.b64decode(b64))
        _codec.b64encode(_codec.jpeg_encode(pixels, 80))

    for _ in range(20):
        once()
    t0 = time.process_time()
    for _ in range(n):
        once()
    print((time.process_time() - t0) * 1000 / n)


def floor(n: int, core: int | None) -> float:
    out = subprocess.run([sys.executable, __file__, "--floor-child", str(n)], cwd=ROOT, capture_output=True,
                         text=True, preexec_fn=pinned(core), check=True)
    return float(out.stdout.strip())


# -- servers ---------------------------------------------------------------------------------


def start_daemon(core: int | None, extra: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "runway_bridge", "serve", "--port", str(port), "--no-osc", "--adapters",
           str(FIXTURE_ADAPTERS), "--model", "identity", *extra]
    return start_pinned(cmd, url + "/readyz", core), url


def start_old(core: int | None, workdir: Path) -> tuple[subprocess.Popen, str]:
    py, sdk = old_sdk()
    model = workdir / "old_identity.py"
    model.write_text(OLD_MODEL)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(sdk)}
    return start_pinned([str(py), str(model), str(port)], f"http://127.0.0.1:{port}/healthcheck", core,
                        env=env, cwd=workdir), f"http://127.0.0.1:{port}"


def start_pinned(cmd, ready: str, core, env=None, cwd=ROOT) -> subprocess.Popen:
    return start(cmd, ready, timeout=60, preexec_fn=pinned(core), env=env, cwd=cwd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400, help="requests per server per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients for the throughput part")
    ap.add_argument("--replicas", action="append", default=[], help="passed to serve as --replicas ID=N")
    ap.add_argument("--backend", default="local", help="the identity model's backend (local or process)")
    ap.add_argument("--skip-old", action="store_true", help="leave the old SDK out")
    ap.add_argument("--floor-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.floor_child:
        return floor_child(args.floor_child)
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("needs two cores: one for the server, one for the client")
    server_core, client_core = cores[0], cores[1]
    extra = ["--backend", f"identity={args.backend}", *(a for r in args.replicas for a in ("--replicas", r))]
    body = json.dumps({"image": "data:image/jpeg;base64," + base64.b64encode(frame()).decode()}).encode()
    procs = []
    cpu: dict[str, list[float]] = {"old": [], "daemon": [], "bare": [], "floor": []}
    fps: dict[str, list[float]] = {"old": [], "daemon": [], "bare": []}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            print(f"server on core {server_core}, client on core {client_core}; starting servers...", flush=True)
            daemon, durl = start_daemon(server_core, extra)
            procs.append(daemon)
            servers = [("daemon", durl, "/query", daemon.pid)]
            port = free_port()
            bare = start_pinned([sys.executable, str(ROOT / "benchmarks" / "_echo.py"), str(port)],
                                f"http://127.0.0.1:{port}/health", server_core)
            procs.append(bare)
            servers.append(("bare", f"http://127.0.0.1:{port}", "/query", bare.pid))
            if not args.skip_old:
                old, ourl = start_old(server_core, Path(tmp))
                procs.append(old)
                servers.append(("old", ourl, "/query", old.pid))
            os.sched_setaffinity(0, {client_core})
            for r in range(args.rounds):
                for name, url, path, pid in servers:
                    ms, rate, _ = asyncio.run(measure(url, path, body, args.requests, 1, pid))
                    cpu[name].append(ms)
                    fps[name].append(rate)
                cpu["floor"].append(floor(args.requests, server_core))
                print(f"  round {r + 1}: " + "  ".join(f"{k} {v[-1]:.2f}" for k, v in cpu.items() if v)
                      + " ms/frame", flush=True)
            one = [asyncio.run(measure(durl, "/query", body, args.requests * 2, args.clients, daemon.pid))
                   for _ in range(max(1, args.rounds // 2))]
            daemon.terminate()
            daemon.wait()
            os.sched_setaffinity(0, set(cores))
            daemon2, durl2 = start_daemon(None, extra)
            procs.append(daemon2)
            two = [asyncio.run(measure(durl2, "/query", body, args.requests * 2, args.clients, daemon2.pid))
                   for _ in range(max(1, args.rounds // 2))]
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait()
    report(args, cpu, fps, one, two)


def report(args, cpu, fps, one, two) -> None:
    med = {k: statistics.median(v) for k, v in cpu.items() if v}
    print(f"\n640x480 JPEG q80 ({len(frame())} bytes), identity model, {args.requests} requests x "
          f"{args.rounds} rounds; server CPU per frame, medians (range)")
    for k, label in (("old", "old Runway SDK (runway-python 0.6.1)"), ("daemon", "runway-bridge daemon /query"),
                     ("bare", "bare aiohttp server, codec inline"), ("floor", "codec floor (b64 + JPEG, both ways)")):
        if k in med:
            rate = f"   {statistics.median(fps[k]):6.0f} frames/s lockstep" if k in fps and fps[k] else ""
            print(f"  {label:<40}{med[k]:6.2f} ms ({min(cpu[k]):.2f}-{max(cpu[k]):.2f}){rate}")
    print()
    checks = []
    if "old" in med:
        checks.append(("daemon / old SDK", med["daemon"] / med["old"], "<=", 0.5))
    checks.append(("daemon / codec floor", med["daemon"] / med["floor"], "<=", 1.3))
    print(f"  for reference: daemon / bare server {med['daemon'] / med['bare']:.2f}, "
          f"bare server / codec floor {med['bare'] / med['floor']:.2f}")
    r1, r2 = statistics.median(m[1] for m in one), statistics.median(m[1] for m in two)
    print(f"  {args.clients} clients: one core {r1:.0f} frames/s, two cores {r2:.0f} frames/s"
          + (f" (serve {' '.join('--replicas ' + r for r in args.replicas)})" if args.replicas else ""))
    print(f"    server CPU per frame: one core {statistics.median(m[0] for m in one):.2f} ms, two cores "
          f"{statistics.median(m[0] for m in two):.2f} ms; this client's own CPU per frame "
          f"{statistics.median(m[2] for m in two):.2f} ms (it shares the two cores)")
    checks.append((f"{args.clients} clients, two cores / one core", r2 / r1, ">=", 1.8))
    for label, ratio, op, budget in checks:
        ok = ratio <= budget if op == "<=" else ratio >= budget
        print(f"  {label:<34}{ratio:6.2f}   budget {op} {budget:<4}  {'PASS' if ok else 'MISS'}")


if __name__ == "__main__":
    main()
