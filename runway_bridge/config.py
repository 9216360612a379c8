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
    osc_max_datagram: int = 1400
    wekinator: str | None = None  # "host:port" for /wek/inputs, usually 127.0.0.1:6448
    models: list[str] = field(default_factory=list)  # started at launch; the first is the default
    model_options: dict[str, dict] = field(default_factory=dict)
    backends: dict[str, str] = field(default_factory=dict)  # id -> backend kind, overriding cards
    adapters: list[Path] = field(default_factory=list)  # user folders, searched after the built-ins
    builtin_adapters: bool = True
    token: str | None = None
    max_body: int = 32 * 1024 * 1024
    queue_size: int = 16
    file_root: Path | None = None
    sources: list[str] = field(default_factory=list)  # "model_id=source" read by the daemon
    remotes: list[str] = field(default_factory=list)  # URLs of remote daemons
    remote_token: str | None = None
    debug: bool = False

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
