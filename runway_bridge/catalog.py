"""The catalogue: adapter folders (``model.py`` + ``model.toml``) and their cards.

Cards are read at launch (cheap); a model's manifest needs its code imported, which can be slow
and heavy, so it is read in a child process on first use and cached.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BridgeError, NotFound

__all__ = ["Catalog", "Entry", "CATEGORIES"]

log = logging.getLogger(__name__)

CATEGORIES = {"extract": "Extract and identify", "transform": "Transform", "generate": "Generate"}


@dataclass
class Entry:
    id: str
    dir: Path | None  # None for a model of a remote daemon
    card: dict
    manifest: dict | None = field(default=None, repr=False)
    read_manifest: Callable[[], Awaitable[dict]] | None = field(default=None, repr=False)  # remote models

    @property
    def license(self) -> dict:
        return self.card.get("license", {})

    @property
    def commercial_use(self) -> bool:
        return bool(self.license.get("commercial_use", False))

    @property
    def backend(self) -> str:
        return self.card.get("backend", "local")

    @property
    def default_command(self) -> str | None:
        return self.card.get("default_command")

    def summary(self) -> dict:
        c = self.card
        return {
            "id": self.id,
            "name": c.get("name", self.id),
            "category": c.get("category"),
            "description": c.get("description", ""),
            "license": self.license.get("weights") or self.license.get("code"),
            "commercial_use": self.commercial_use,
            "publisher": c.get("publisher"),
            "speed": c.get("speed", {}),
            "backend": self.backend,
            "default_command": self.default_command,
        }


def read_card(folder: Path) -> dict:
    with open(folder / "model.toml", "rb") as f:
        card = tomllib.load(f)
    card.setdefault("id", folder.name)
    problems = []
    if card.get("category") not in CATEGORIES:
        problems.append(f"category must be one of {list(CATEGORIES)}")
    for key in ("name", "license"):
        if key not in card:
            problems.append(f"missing '{key}'")
    if not (folder / "model.py").is_file():
        problems.append("no model.py beside the card")
    if problems:
        raise ValueError("; ".join(problems))
    return card


class Catalog:
    """Adapters found in folders; a later folder's adapter replaces a built-in of the same id."""

    def __init__(self, dirs: list[Path]):
        self.entries: dict[str, Entry] = {}
        self.problems: dict[str, str] = {}
        for d in dirs:
            if not d.is_dir():
                self.problems[str(d)] = "not a folder"
                continue
            for folder in sorted(p for p in d.iterdir() if (p / "model.toml").is_file()):
                try:
                    card = read_card(folder)
                except (ValueError, tomllib.TOMLDecodeError, OSError) as e:
                    self.problems[str(folder)] = str(e)
                    log.warning("skipping adapter %s: %s", folder, e)
                    continue
                self.entries[card["id"]] = Entry(card["id"], folder, card)

    def __iter__(self):
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, model_id: str) -> Entry:
        try:
            return self.entries[model_id]
        except KeyError:
            raise NotFound(f"no model {model_id!r} in the catalogue; known: {', '.join(sorted(self.entries))}") from None

    def add(self, folder: Path) -> Entry:
        card = read_card(folder)
        entry = self.entries[card["id"]] = Entry(card["id"], folder, card)
        return entry

    def add_remote(self, card: dict, read_manifest: Callable[[], Awaitable[dict]]) -> Entry:
        """A model of a remote daemon (`backends.remote`): no folder; its card says ``backend =
        "remote"`` and ``remote = {url, id}``; `read_manifest` asks the remote for its manifest."""
        entry = self.entries[card["id"]] = Entry(card["id"], None, card, read_manifest=read_manifest)
        return entry

    async def manifest(self, model_id: str) -> dict:
        """The model's options and commands, read in a child process (or from its remote) the first time."""
        entry = self.get(model_id)
        if entry.manifest is None and entry.read_manifest is not None:
            entry.manifest = await entry.read_manifest()
        elif entry.manifest is None:
            entry.manifest = await read_manifest(entry.dir, entry.card)
        return entry.manifest


async def read_manifest(folder: Path, card: dict) -> dict:
    python = card.get("process", {}).get("python") or sys.executable
    proc = await asyncio.create_subprocess_exec(
        python, "-m", "runway_bridge.compat", "--meta", str(folder / "model.py"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise BridgeError(f"could not read the manifest of {folder.name}: {' '.join(tail)}")
    return json.loads(out.decode().strip().splitlines()[-1])
