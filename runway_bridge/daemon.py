"""The daemon: a `Bridge` of hosts over the catalogue, and `create_app` that assembles transports.

Transports call the `Bridge` (start, stop, find a running host); they never touch backends.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from .appkeys import BRIDGE
from .backends import create as create_backend
from .catalog import Catalog, Entry
from .config import Config
from .errors import BadInput, Conflict
from .host import Host, HostState
from .inflight import Budget
from .metrics import Metrics
from .replicas import MAX_REPLICAS, REPLICATED
from .types import DecodeContext

__all__ = ["Bridge", "create_app", "BRIDGE"]

log = logging.getLogger("runway_bridge")


class Bridge:
    """Every model of the catalogue, and the hosts of those that were started."""

    def __init__(self, config: Config, catalog: Catalog | None = None):
        self.config = config
        self.catalog = catalog or Catalog(config.adapter_dirs())
        self.metrics = Metrics()
        self.metrics.watch_streams(lambda: list(self.hosts.values()))
        self.budget = Budget(config.max_inflight)  # one for all hosts: frames in flight, in bytes
        self.metrics.watch_value("runway_bridge_inflight_bytes", "Bytes of frames held by all models",
                                 lambda: self.budget.used)
        self.metrics.watch_value("runway_bridge_inflight_refused", "Frames refused over --max-inflight",
                                 lambda: self.budget.refused)
        self.hosts: dict[str, Host] = {}
        self.default_id: str | None = config.models[0] if config.models else None
        # Without --file-root, `file` inputs from the network are refused (refuse_files).
        self.ctx = DecodeContext(file_root=str(config.file_root) if config.file_root else None,
                                 refuse_files=config.file_root is None)
        self.listeners: list = []  # callbacks(host) when a host is created, for transports that subscribe

    def entry(self, model_id: str) -> Entry:
        return self.catalog.get(model_id)

    def start(self, model_id: str, options: dict | None = None, backend: str | None = None) -> Host:
        """Start (or restart with new options) a model in the background; returns its host."""
        entry = self.entry(model_id)
        host = self.hosts.get(model_id)
        kind = backend or self.config.backends.get(model_id) or entry.backend
        if (entry.dir is None) != (kind == "remote"):  # a remote model runs only there, and only it does
            raise BadInput(f"{model_id} is {'a remote model' if entry.dir is None else 'not a remote model'}; "
                           f"it cannot run on the {kind} backend")
        opts = {**entry.card.get("options", {}), **self.config.model_options.get(model_id, {}), **(options or {})}
        if host is not None and host.backend.kind != kind:
            raise Conflict(f"{model_id} runs on the {host.backend.kind} backend; stop it before moving it to {kind}")
        if host is None:
            host = Host(model_id, self._backends(entry, kind),
                        default_command=entry.default_command, queue_size=self.config.queue_size,
                        metrics=self.metrics, budget=self.budget)
            self.hosts[model_id] = host
            for listener in self.listeners:
                listener(host)
        if not entry.commercial_use:
            lic = entry.license
            log.warning("Note: %s's licence (%s) does not allow commercial use. %s", model_id,
                        lic.get("weights") or lic.get("code"), lic.get("note", ""))
        if self.default_id is None:
            self.default_id = model_id
        log.info("Starting %s on the %s backend...", model_id, kind)
        task = host.start(opts)
        task.add_done_callback(lambda _: self._report(host))
        return host

    def _backends(self, entry: Entry, kind: str) -> list:
        """The model's replicas: ``--replicas ID=N``, else the card's ``replicas``, else one."""
        n = self.config.replicas.get(entry.id) or entry.card.get("replicas") or 1
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_REPLICAS:
            raise BadInput(f"{entry.id}: replicas must be a whole number from 1 to {MAX_REPLICAS}, not {n!r}")
        kwargs = {"ctx": self.ctx} if kind in REPLICATED else {}
        if kind == "remote":
            kwargs = {"token": self.config.remote_token}
        if n > 1 and kind not in REPLICATED:
            raise BadInput(f"{entry.id}: replicas run on the {' or '.join(REPLICATED)} backend, not {kind}")
        return [create_backend(kind, entry.dir, entry.card, **kwargs) for _ in range(n)]

    def _report(self, host: Host) -> None:
        self.metrics.state.labels(host.id).set(1 if host.state is HostState.RUNNING else 0)
        if host.manifest is not None:
            self.catalog.get(host.id).manifest = host.manifest
        if host.state is HostState.RUNNING:
            log.info("Model %s is running.", host.id)
        elif host.state is HostState.FAILED:
            log.error("Model %s failed to start: %s", host.id, host.error.message if host.error else "?")

    async def stop(self, model_id: str) -> None:
        self.entry(model_id)
        host = self.hosts.get(model_id)
        if host is not None:
            await host.stop()
            self.metrics.state.labels(model_id).set(0)

    def host(self, model_id: str | None = None) -> Host:
        """The host of a started model (the default model when no id is given)."""
        model_id = model_id or self.default_id
        if model_id is None:
            raise Conflict("no model is running; start one: runway-bridge serve --model ID, "
                           "or POST /v1/models/<id>/start")
        self.entry(model_id)
        host = self.hosts.get(model_id)
        if host is None:
            raise Conflict(f"model {model_id} is not running; start it first (POST /v1/models/{model_id}/start)")
        return host

    def status(self, model_id: str) -> dict:
        host = self.hosts.get(model_id)
        return host.status() if host else {"state": HostState.STOPPED.value, "error": None}

    async def close(self) -> None:
        await asyncio.gather(*(h.stop() for h in self.hosts.values()), return_exceptions=True)



def create_app(config: Config, bridge: Bridge | None = None) -> web.Application:
    """Assemble the daemon: the bridge, then each transport; models start after the port binds."""
    from . import access, sources
    from .transports import http, osc, socketio, websocket
    from .transports._http import BODY_TIMEOUT, BROWSER_JSON, DEBUG, RAW_BODIES, TOKEN, middleware

    # Bodies arrive compressed (read_body inflates them, bounded, off the loop); an idle or
    # half-sent connection is closed after idle_timeout (aiohttp's keep-alive timer runs from accept).
    app = web.Application(middlewares=[access.middleware, middleware], client_max_size=config.max_body,
                          handler_args={"auto_decompress": False, "keepalive_timeout": config.idle_timeout})
    app[BRIDGE] = bridge or Bridge(config)
    app[DEBUG] = config.debug
    app[RAW_BODIES], app[BODY_TIMEOUT], app[BROWSER_JSON] = True, config.body_timeout, True
    app[access.ACCESS] = access.Access(bind=config.host, allow_hosts=config.allow_hosts,
                                       allow_origins=config.allow_origins, token=config.token)
    if config.token:
        app[TOKEN] = config.token

    async def bridge_ctx(app):
        bridge = app[BRIDGE]
        recorders = []
        if config.record:
            from .record import record_results

            recorders = record_results(bridge, config.record)
        remotes = None
        if config.remotes:  # their catalogues arrive in the background; their --model ids start then
            from .remotes import RemoteDaemons

            remotes = RemoteDaemons(bridge)
            remotes.start()
        for model_id in config.models:
            if remotes is None or model_id in bridge.catalog.entries:
                bridge.start(model_id)
        yield
        await bridge.close()
        for rec in recorders:
            rec.close()
        if remotes is not None:
            await remotes.close()

    app.cleanup_ctx.append(bridge_ctx)
    websocket.setup_websocket(app)
    socketio.setup_socketio(app)
    if config.osc_port is not None:
        osc.setup_osc(app)
    sources.setup_sources(app)
    from .sinks import setup_video_out

    setup_video_out(app)
    http.setup_http(app)
    return app
