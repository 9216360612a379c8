"""``python -m runway_bridge.compat [--meta] model.py``: serve (or describe) an old-SDK model file."""

import json
import sys

from . import enable


def main(argv: list[str]) -> None:
    meta = "--meta" in argv
    paths = [a for a in argv if not a.startswith("--")]
    if len(paths) != 1:
        sys.exit("usage: python -m runway_bridge.compat [--meta] path/to/model.py")
    enable()
    from ..model import load_model
    from ..sdk import serve_from_env

    model = load_model(paths[0])
    if meta:
        print(json.dumps(model.manifest()))
        return
    serve_from_env(model)


if __name__ == "__main__":
    main(sys.argv[1:])
