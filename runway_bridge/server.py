"""Serving an aiohttp app until Ctrl+C: bind first, then start what loads slowly.

Shutdown follows aiohttp's order: stop accepting, close sockets GOING_AWAY (the apps' on_shutdown
hooks), stop models, wait with a timeout; a second Ctrl+C exits at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger("runway_bridge")

__all__ = ["serve", "serve_model", "is_loopback", "require_token_for"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_token_for(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        sys.exit(f"Refusing to bind {host} without a token: anyone on the network could run models.\n"
                 "Pass --token SECRET (or set RUNWAY_BRIDGE_TOKEN), or bind 127.0.0.1.")


def _bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address `host` resolves to (as aiohttp's TCPSite would)."""
    socks: list[socket.socket] = []
    try:
        for family, kind, proto, _, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                               flags=socket.AI_PASSIVE):
            if socks and port == 0:
                break  # an ephemeral port is one address's; the first will do
            s = socket.socket(family, kind, proto)
            socks.append(s)
            if sys.platform != "win32":  # on Windows it would let another process take the port
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.bind(addr)
            s.listen(128)
            s.setblocking(False)
    except OSError:
        for s in socks:
            s.close()
        raise
    return socks


async def _serve(app: web.Application, host: str, port: int, after_bind: Callable[[int], Awaitable[None]] | None,
                 extra_ports: list[int] | None = None):
    # Bind before the app starts: its startup loads models, which must not begin (and then be
    # torn down mid-load) when the port is taken.
    try:
        socks = _bind(host, port)
    except OSError as e:
        sys.exit(f"Cannot listen on {host}:{port}: {e.strerror or e}. Is another bridge running? "
                 f"Pick another port with --port (or RW_PORT).")
    for extra in list(extra_ports or ()):  # the same app (every route and middleware) on more ports
        try:
            socks += _bind(host, extra)
        except OSError as e:
            extra_ports.remove(extra)
            log.warning("Warning: port %s is busy (%s); old clients that expect it will not connect. "
                        "Free it, or pick another with --socketio-port.", extra, e.strerror or e)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5)
    await runner.setup()
    for sock in socks:
        site = web.SockSite(runner, sock)
        await site.start()
    bound = socks[0].getsockname()[1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    presses = 0

    def on_signal():
        nonlocal presses
        presses += 1
        if presses > 1:
            print("\nForced exit.", file=sys.stderr)
            import os

            os._exit(130)
        print("\nShutting down (Ctrl+C again to force)...", file=sys.stderr)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        if after_bind is not None:
            await after_bind(bound)
        await stop.wait()
    finally:
        await runner.cleanup()


class _ClientErrorFilter(logging.Filter):
    """aiohttp logs a full traceback for every malformed request a client sends (a header over
    8 KB, a bad request line): one line each instead, rate limited, since any client can repeat it."""

    def __init__(self):
        super().__init__()
        self._seen: list[float] = []

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        import time

        now = time.monotonic()
        self._seen = [t for t in self._seen if now - t < 10][-20:] + [now]
        if len(self._seen) > 5:  # at most five lines per 10 s
            return False
        record.msg, record.args = "bad request from a client: %s", (str(exc).splitlines()[0][:200],)
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def serve(app: web.Application, host: str, port: int, after_bind=None, extra_ports: list[int] | None = None) -> None:
    """Run `app` on host:port until Ctrl+C; `after_bind(port)` runs once the port answers.
    `extra_ports` serve the same app too, each only if free (a busy one is a warning and is
    removed from the list before `after_bind` runs)."""
    try:
        import uvloop  # optional: roughly halves loop overhead on small messages

        uvloop.install()
    except ImportError:
        pass
    logging.getLogger("aiohttp.server").addFilter(_ClientErrorFilter())
    asyncio.run(_serve(app, host, port, after_bind, extra_ports))


def _single_model_backend(model, gpu: bool):
    """The local backend as the model server needs it: each generator step sent the moment it is
    made (the job protocol streams them), `GPU` from the environment kept whatever setup says,
    and a `reload` that keeps the previous model serving when new options fail."""
    import asyncio

    from .backends.base import BackendState
    from .backends.local import LocalBackend

    class SingleModelBackend(LocalBackend):
        async def manifest(self):
            raise NotImplementedError  # the model server holds the manifest (a model may have no command)

        async def start(self, options):
            await super().start(options)
            self.gpu = self.gpu or gpu

        async def reload(self, options):
            """Run setup again; on failure raise and keep the model that was serving."""
            if self.state is not BackendState.RUNNING:
                raise RuntimeError("reload needs a running model")
            self._state = await self._run(self._model.run_setup, options, self._ctx)

        async def call(self, command, inputs, *, binary=False, formats=None, timings=None, on_partial=None):
            loop = asyncio.get_running_loop()
            partial = None
            if on_partial is not None:
                def partial(out, progress):
                    loop.call_soon_threadsafe(on_partial, out, progress)
            if self.state is not BackendState.RUNNING:
                return await super().call(command, inputs)  # raises the state's error
            return await self._run(lambda: self._model.run_command(
                self._state, command, inputs, ctx=self._ctx, formats=formats, binary=binary,
                timings=timings, on_partial=partial, eager=True))

    backend = SingleModelBackend(".", model=model)
    backend.gpu = gpu
    return backend


def serve_model(model, *, host: str, port: int, options: dict | None, debug: bool = False,
                token: str | None = None, gpu: bool = False, name: str = "model") -> None:
    """Serve one already-loaded `Model` with the Runway model-server protocol."""
    from .host import Host
    from .transports import model_server

    require_token_for(host, token)
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, format="%(message)s")
    backend = _single_model_backend(model, gpu)
    h = Host(name, backend, default_command=next(iter(model.commands), None))

    async def on_cleanup(app):
        await h.stop()

    app = model_server.create_app(h, model.manifest(), debug=debug, token=token)
    app.on_cleanup.append(on_cleanup)

    async def after_bind(bound: int):
        print(f"Model server listening on http://{host}:{bound} (setting up...)", flush=True)
        await h.start(options or {})
        if h.error:
            print(f"Setup failed: {h.error.message}\nFix the model or POST new options to /setup.", flush=True)
        else:
            print(f"Model ready: commands {', '.join(model.commands) or '(none: setup only)'}", flush=True)

    serve(app, host, port, after_bind)
