"""The ray backend's connection to Ray: one per daemon, shared by its models, and what it ships.

`connect` joins this machine's Ray (``ray start``, RAY_ADDRESS) or a cluster's address, or starts
a bounded local one (no dashboard, quiet logs) that this process then owns: the last model to
`disconnect` shuts it down. A Ray this process did not start gets runway_bridge with the job
(runtime_env ``py_modules``); `pack` reads an adapter folder for replicas on nodes that lack it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

from ..errors import SetupError

__all__ = ["PKG", "connect", "disconnect", "pack", "restore_signals"]

PKG = Path(__file__).resolve().parent.parent  # the runway_bridge folder
EXCLUDES = ["__pycache__", "*.pyc", "node_modules", ".venv", ".git"]
SHIP_MAX = 64 << 20  # an adapter folder sent to a cluster's replicas: code and small weights, not a dataset

_lock = threading.Lock()
_users = 0
_owned = False  # whether this process started the Ray it uses (then the last model to stop shuts it)


def connect(address: str | None, num_cpus: int | None) -> bool:
    """Connect to Ray (or start a bounded local one) once; returns whether this process owns it."""
    global _users, _owned
    import ray
    from ray import serve

    with _lock:
        if not ray.is_initialized():
            quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
            for name in ("ray", "ray.serve"):  # Ray's start-up chatter; our own log says what matters
                logging.getLogger(name).setLevel(logging.ERROR)
            address = address or "auto"
            ship = {"runtime_env": {"py_modules": [str(PKG)], "excludes": EXCLUDES}}  # to nodes that lack it
            if address == "local" or (address == "auto" and not (os.environ.get("RAY_ADDRESS") or _ray_running_here())):
                ray.init(num_cpus=num_cpus or os.cpu_count() or 1, _node_ip_address="127.0.0.1", **quiet)
                _owned = True
            else:  # this machine's `ray start`, or a cluster's address
                ray.init(address=address, **ship, **quiet)
        serve.start(proxy_location="Disabled")  # no HTTP proxy: the daemon's transports are in front
        _users += 1
        return _owned


def restore_signals() -> None:
    """Give SIGTERM and SIGINT back to the daemon (call on the main thread after `connect`).

    Ray's core worker installs its own handlers for them when it starts (a stack dump, then the
    old handler, or nothing): the daemon's graceful stop on SIGTERM was lost. Setting Python's
    handlers again puts its own C handler back in front.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        handler = signal.getsignal(sig)
        if handler is not None:
            signal.signal(sig, handler)


def _ray_running_here() -> bool:
    """Whether `ray start` left a cluster on this machine (Ray's own marker file)."""
    try:
        from ray._private.services import find_bootstrap_address  # reads /tmp/ray/ray_current_cluster

        return find_bootstrap_address(None) is not None
    except Exception:  # a private API: if it moves, start a local Ray rather than fail
        return False


def disconnect() -> None:
    global _users, _owned
    import ray
    from ray import serve

    with _lock:
        _users = max(0, _users - 1)
        if _users == 0 and _owned:
            serve.shutdown()
            ray.shutdown()
            _owned = False


def pack(folder: Path) -> dict[str, bytes]:
    """An adapter folder's files by relative path, for replicas on nodes that do not have it."""
    files, total = {}, 0
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part in ("__pycache__", ".venv", ".git", "node_modules") for part in rel.parts):
            total += path.stat().st_size
            if total > SHIP_MAX:
                raise SetupError(f"the adapter folder {folder} is over {SHIP_MAX >> 20} MiB; to run it on a Ray "
                                 f"cluster, put it on every node and start the daemon on one of them (--ray auto)")
            files[rel.as_posix()] = path.read_bytes()
    return files
