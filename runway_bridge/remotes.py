"""Remote daemons' catalogues, joined to the local one (``--remote URL --remote-token T``).

Each remote is asked for its catalogue at launch (``GET /v1/models``), in the background so the
port binds at once; one that does not answer is asked again with backoff, so the laptop may start
first. Its models join the local catalogue with ``backend = "remote"`` and ``remote = {url, id}``
in their card, under the remote's id when that is free here and as ``<id>@<host:port>``
otherwise; `backends.remote.RemoteBackend` runs them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

import aiohttp

from .backends.remote import (
    CONNECT_TIMEOUT,
    MAX_DELAY,
    _delay,
    _describe,
    _get_json,
    _netloc,
    _require_token,
    _session,
    normalise_url,
)
from .errors import BridgeError

__all__ = ["RemoteDaemons"]

log = logging.getLogger("runway_bridge.remote")


class RemoteDaemons:
    """The remote daemons of a bridge's config: their catalogues joined to the local one.

    Each remote is asked for its catalogue at launch, in the background (the port binds at once);
    one that does not answer is asked again with backoff until it does. Models named with
    ``--model`` that live on a remote start as soon as its catalogue arrives.
    """

    def __init__(self, bridge):
        self.bridge = bridge
        cfg = bridge.config
        self.urls = [normalise_url(u) for u in cfg.remotes]
        for url in self.urls:
            _require_token(url, cfg.remote_token)
        self._token = cfg.remote_token
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task] = []
        self.ready = asyncio.Event() if self.urls else None

    def start(self) -> None:
        self._session = _session(self._token)
        self._tasks = [asyncio.ensure_future(self._attach(url)) for url in self.urls]
        asyncio.ensure_future(self._report_missing())

    async def _report_missing(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
        missing = [m for m in self.bridge.config.models if m not in self.bridge.catalog.entries]
        for model_id in missing:
            log.error("--model %s: no such model here or on %s; known: %s", model_id, ", ".join(self.urls),
                      ", ".join(sorted(self.bridge.catalog.entries)))

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _attach(self, url: str) -> None:
        last = None
        for failures in itertools.count(1):
            try:
                listing = await _get_json(self._session, f"{url}/v1/models", f"remote {url}", CONNECT_TIMEOUT * 2)
                break
            except (BridgeError, aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError) as e:
                why = _describe(e)
                if why != last:
                    log.warning("remote %s: %s; retrying (every %g s at most)", url, why, MAX_DELAY)
                last = why
                await asyncio.sleep(_delay(failures))
        added = [self.add(url, m) for m in listing.get("models", [])]
        added = [a for a in added if a]
        log.info("remote %s: %d models: %s", url, len(added), ", ".join(added))
        for model_id in self.bridge.config.models:
            if model_id in added and model_id not in self.bridge.hosts:
                self.bridge.start(model_id)

    def add(self, url: str, summary: dict) -> str | None:
        """Put one remote model into the local catalogue; returns its local id."""
        rid = summary.get("id")
        if not rid:
            return None
        entries = self.bridge.catalog.entries
        local_id = rid if rid not in entries else f"{rid}@{_netloc(url)}"
        if local_id in entries:
            log.warning("remote %s: %s is already in the catalogue; skipped", url, local_id)
            return None
        card = {
            "id": local_id,
            "name": summary.get("name", rid),
            "category": summary.get("category"),
            "description": summary.get("description", ""),
            "publisher": summary.get("publisher"),
            "speed": summary.get("speed", {}),
            "license": {"weights": summary.get("license"), "commercial_use": bool(summary.get("commercial_use"))},
            "backend": "remote",
            "remote": {"url": url, "id": rid, "backend": summary.get("backend")},
        }
        if summary.get("default_command"):
            card["default_command"] = summary["default_command"]
        session, what = self._session, f"remote {url}"

        async def read_manifest() -> dict:
            return (await _get_json(session, f"{url}/v1/models/{rid}", what)).get("manifest")

        self.bridge.catalog.add_remote(card, read_manifest)
        return local_id
