"""`run()`: serve the model defined in this process, as the old Runway SDK's ``runway.run()`` did.

Reads the ``RW_*`` variables (only this and the CLI read the environment). The port is bound
before setup runs, so ``/healthcheck`` answers STARTING during a long load.
"""

from __future__ import annotations

import json
import os
import sys

__all__ = ["run", "run_model", "serve_from_env"]


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def run(host: str | None = None, port: int | None = None, model_options: dict | None = None,
        debug: bool | None = None, meta: bool | None = None, no_serve: bool | None = None) -> None:
    """Serve the model registered with `setup` and `command` in this process.

    As in the old SDK, the ``RW_*`` variables win over the arguments, so a launcher can place any
    model: ``RW_HOST`` (default 127.0.0.1), ``RW_PORT`` (9000), ``RW_MODEL_OPTIONS`` (JSON),
    ``RW_DEBUG``, ``RW_META`` (print ``{options, commands}`` as one JSON line and exit) and
    ``RW_NO_SERVE`` (set up, then return without serving).

    Binding another address than loopback needs ``RW_TOKEN``. A `host` passed here without one
    (the old SDK's default, and its model template's ``run(host='0.0.0.0', port=8000)``) binds
    127.0.0.1 instead and says how to expose the model; ``RW_HOST`` without a token is refused.
    Inside ``runway-bridge run model.py`` a module-level ``run()`` does nothing: the loader
    serves the model once the file is imported.
    """
    from .model import current_model

    run_model(current_model(), host, port, model_options, debug, meta, no_serve)


def run_model(model, host=None, port=None, model_options=None, debug=None, meta=None, no_serve=None) -> None:
    """`run` for a given model (``runway.model.RunwayModel.run``)."""
    from .model import loading

    if loading():
        return
    if host is not None and not os.environ.get("RW_HOST") and not _token():
        from .server import is_loopback

        if not is_loopback(host):
            shown = port or 9000
            print(f"run(host={host!r}) would let anyone on the network run this model, and no token is set: "
                  f"listening on 127.0.0.1 instead.\nTo expose it, set a token clients must send "
                  f"('Authorization: Bearer SECRET'):\n    RW_TOKEN=SECRET RW_HOST={host} RW_PORT={shown} "
                  f"python {os.path.basename(sys.argv[0] or 'model.py')}", file=sys.stderr, flush=True)
            host = "127.0.0.1"
    serve_from_env(model, host, port, model_options, debug, meta, no_serve)


def _token() -> str | None:
    return os.environ.get("RW_TOKEN") or os.environ.get("RUNWAY_BRIDGE_TOKEN")


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
    if model_options is not None and not isinstance(model_options, dict):
        # The old SDK only looked option names up in it (its own docs pass a set): use defaults.
        print(f"model_options should be a dict of option values, not {type(model_options).__name__}; "
              "using the defaults", file=sys.stderr)
        model_options = {}
    if _env_bool("RW_NO_SERVE") or no_serve:
        from .errors import BridgeError

        try:
            model.run_setup(model_options)
        except BridgeError as e:  # as the old SDK: say why and exit 1
            e.print_exception()
            sys.exit(1)
        return
    from .server import serve_model

    serve_model(
        model,
        host=os.environ.get("RW_HOST") or host or "127.0.0.1",
        port=int(os.environ.get("RW_PORT") or port or 9000),
        options=model_options or {},
        debug=_env_bool("RW_DEBUG") or bool(debug),
        token=_token(),
        gpu=_env_bool("GPU"),
        name=name,
    )
