"""One configuration dataclass for the daemon, filled by CLI flags, ``RW_*`` variables or a file."""

from __future__ import annotations

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

__all__ = ["Config", "BUILTIN_ADAPTERS", "BUILTIN_EXAMPLES"]

_PKG = Path(__file__).resolve().parent


def _shipped(inside: str, checkout: str) -> Path:
    """A folder the wheel ships inside the package (``runway_bridge/_adapters``), or in a
    checkout the repository's source folder of the same content (``adapters/``)."""
    installed = _PKG / inside
    return installed if installed.is_dir() else _PKG.parent / checkout


BUILTIN_ADAPTERS = _shipped("_adapters", "adapters")
BUILTIN_EXAMPLES = _shipped("_examples", "examples")


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 8000
    osc_port: int | None = 57100  # None: no OSC
    osc_reply_port: int = 57200
    osc_targets: list[str] = field(default_factory=list)  # "host:port", pushed without a handshake
    osc_max_datagram: int = 1400  # the flattened number addresses
    osc_max_json: int = 65507  # /data, /error and /info JSON strings: the UDP limit, as old clients expect
    osc_allow: list[str] = field(default_factory=list)  # CIDRs OSC senders may come from, beside loopback
    osc_bundles: str = "targets"  # who gets each result's numbers as bundles: targets | all | none
    wekinator: str | None = None  # "host:port" for /wek/inputs, usually 127.0.0.1:6448
    models: list[str] = field(default_factory=list)  # started at launch; the first is the default
    model_options: dict[str, dict] = field(default_factory=dict)
    backends: dict[str, str] = field(default_factory=dict)  # id -> backend kind, overriding cards
    replicas: dict[str, int] = field(default_factory=dict)  # id -> instances, overriding cards' `replicas`
    adapters: list[Path] = field(default_factory=list)  # user folders, searched after the built-ins
    builtin_adapters: bool = True
    token: str | None = None
    max_body: int = 32 * 1024 * 1024
    queue_size: int = 16
    max_inflight: int = 256 * 1024 * 1024  # bytes of frames held by all models' queues and slots
    file_root: Path | None = None
    sources: list[str] = field(default_factory=list)  # "model_id=source" read by the daemon
    source_settings: dict[str, dict] = field(default_factory=dict)  # id -> width, height, fps, mirror
    remotes: list[str] = field(default_factory=list)  # URLs of remote daemons
    record: dict[str, str] = field(default_factory=dict)  # model id -> .jsonl/.csv file of every result
    video_out: list[str] = field(default_factory=list)  # "ID[:OUTPUT]=ndi|spout|syphon[:NAME]"
    remote_token: str | None = None
    debug: bool = False
    # Access and bounds (docs/security.md)
    allow_hosts: list[str] = field(default_factory=list)  # more Host names to answer to ("*": any)
    allow_origins: list[str] = field(default_factory=list)  # web origins that may drive the daemon
    allow_source_urls: list[str] = field(default_factory=list)  # URL patterns network clients may open
    idle_timeout: float = 15.0  # s an idle or half-sent connection is kept
    body_timeout: float = 60.0  # s a request body may take to arrive
    app_api_port: int | None = None  # the desktop app's control API (Unity plugin: 5142)
    socketio_port: int | None = 3000  # also serve everything here, as the Runway app served Socket.IO
    legacy_ports: bool = True  # false: no socketio_port (or other old fixed ports)
    socketio_ping_interval: float = 25.0  # seconds; a silent Socket.IO session is closed after
    socketio_ping_timeout: float = 20.0  # interval + timeout, its stream and subscriptions released

    def adapter_dirs(self) -> list[Path]:
        dirs = [BUILTIN_ADAPTERS] if self.builtin_adapters and BUILTIN_ADAPTERS.is_dir() else []
        return dirs + [Path(d).expanduser() for d in self.adapters]

    @classmethod
    def from_file(cls, path: str | Path) -> dict:
        """Keys of a TOML config file (same names as the fields; ``[model_options.<id>]`` tables)."""
        with open(path, "rb") as f:
            data = tomllib.load(f)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown settings {sorted(unknown)}; known: {sorted(known)}")
        return data
