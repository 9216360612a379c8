"""`run()`: serve the model defined in this process, as the old Runway SDK's ``runway.run()`` did.

Reads the ``RW_*`` variables (only this and the CLI read the environment). The port is bound
before setup runs, so ``/healthcheck`` answers STARTING during a long load.
"""

from __future__ import annotations

import json
import os
import sys

__all__ = ["run"]


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def run(host: str | None = None, port: int | None = None, model_options: dict | None = None,
        debug: bool | None = None, meta: bool | None = None, no_serve: bool | None = None) -> None:
    """Serve the model registered with `setup` and `command` in this process.

    As in the old SDK, the ``RW_*`` variables win over the arguments, so a launcher can place any
    model: ``RW_HOST`` (default 127.0.0.1), ``RW_PORT`` (9000), ``RW_MODEL_OPTIONS`` (JSON),
    ``RW_DEBUG``, ``RW_META`` (print ``{options, commands}`` as one JSON line and exit) and
    ``RW_NO_SERVE`` (set up, then return without serving). Binding another address than loopback
    needs ``RW_TOKEN``.
    """
    from .model import current_model

    serve_from_env(current_model(), host, port, model_options, debug, meta, no_serve)


def serve_from_env(model, host=None, port=None, model_options=None, debug=None, meta=None, no_serve=None,
                   name: str = "model") -> None:
    """`run` for a given model: what ``runway-bridge run`` and ``python model.py`` share."""
    if _env_bool("RW_META") or meta:
        print(json.dumps(model.manifest()))
        return
    if os.environ.get("RW_MODEL_OPTIONS"):
        try:
            model_options = json.loads(os.environ["RW_MODEL_OPTIONS"])
        except json.JSONDecodeError as e:
            sys.exit(f"RW_MODEL_OPTIONS is not valid JSON: {e}")
    if _env_bool("RW_NO_SERVE") or no_serve:
        model.run_setup(model_options)
        return
    from .server import serve_model

    serve_model(
        model,
        host=os.environ.get("RW_HOST") or host or "127.0.0.1",
        port=int(os.environ.get("RW_PORT") or port or 9000),
        options=model_options or {},
        debug=_env_bool("RW_DEBUG") or bool(debug),
        token=os.environ.get("RW_TOKEN") or os.environ.get("RUNWAY_BRIDGE_TOKEN"),
        gpu=_env_bool("GPU"),
        name=name,
    )
