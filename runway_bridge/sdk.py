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

    Arguments override ``RW_HOST`` (default 127.0.0.1), ``RW_PORT`` (9000), ``RW_MODEL_OPTIONS``
    (JSON), ``RW_DEBUG``, ``RW_META`` (print ``{options, commands}`` as one JSON line and exit) and
    ``RW_NO_SERVE`` (set up, then return without serving). Binding another address than loopback
    needs ``RW_TOKEN``.
    """
    from .model import current_model

    model = current_model()
    if meta if meta is not None else _env_bool("RW_META"):
        print(json.dumps(model.manifest()))
        return
    if model_options is None:
        try:
            model_options = json.loads(os.environ.get("RW_MODEL_OPTIONS") or "{}")
        except json.JSONDecodeError as e:
            sys.exit(f"RW_MODEL_OPTIONS is not valid JSON: {e}")
    if no_serve if no_serve is not None else _env_bool("RW_NO_SERVE"):
        model.run_setup(model_options)
        return
    from .server import serve_model

    serve_model(
        model,
        host=host or os.environ.get("RW_HOST", "127.0.0.1"),
        port=int(port or os.environ.get("RW_PORT", 9000)),
        options=model_options,
        debug=debug if debug is not None else _env_bool("RW_DEBUG"),
        token=os.environ.get("RW_TOKEN") or os.environ.get("RUNWAY_BRIDGE_TOKEN"),
        gpu=_env_bool("GPU"),
    )
