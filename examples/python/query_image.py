r"""Run one picture through a model and print its outputs; save image outputs next to it.

    runway-bridge serve --model haar_faces                     # in another terminal
    .venv/bin/python examples/python/query_image.py photo.jpg  # -> {"boxes": [[x0, y0, x1, y1]], "count": 1}
    .venv/bin/python examples/python/query_image.py photo.jpg --model cartoon   # -> photo.cartoon.image.png

(from the repository after scripts/install.sh; on Windows ``.venv\Scripts\python``; any
Python that has runway_bridge installed will do).

Geometry is normalised 0..1 from the top left; multiply by the picture's width and height.
"""

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from runway_bridge.client import Bridge


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", help="a JPEG or PNG file")
    ap.add_argument("--model", default="haar_faces")
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--token")
    args = ap.parse_args()

    with Bridge(args.url, args.token) as bridge:
        if bridge.model(args.model)["status"]["state"] != "RUNNING":
            bridge.start(args.model)  # waits until it is loaded
        outputs = bridge.query(args.model, {"image": Path(args.image).read_bytes()})

    printable = {}
    for name, value in outputs.items():
        if isinstance(value, np.ndarray):  # an image output
            path = Path(args.image).with_suffix(f".{args.model}.{name}.png")
            cv2.imwrite(str(path), cv2.cvtColor(value, cv2.COLOR_RGB2BGR) if value.ndim == 3 else value)
            printable[name] = f"<{value.shape[1]}x{value.shape[0]} image saved to {path}>"
        else:
            printable[name] = value
    print(json.dumps(printable))


if __name__ == "__main__":
    main()
