"""runway_bridge: put machine-learning models into live creative work.

The Model SDK: write `setup` and `command`s, then `run()` serves the Runway model-server protocol::

    from runway_bridge import setup, command, run, image

    @command('invert', inputs={'image': image()}, outputs={'image': image()})
    def invert(model, inputs):
        return 255 - inputs['image']

    if __name__ == '__main__':
        run()
"""

from .model import command, setup
from .sdk import run
from .types import (
    any,
    array,
    boolean,
    category,
    directory,
    file,
    image,
    image_bounding_box,
    image_landmarks,
    image_point,
    number,
    segmentation,
    text,
    vector,
)

__version__ = "0.1.0"

__all__ = [
    "setup",
    "command",
    "run",
    "any",
    "array",
    "boolean",
    "category",
    "directory",
    "file",
    "image",
    "image_bounding_box",
    "image_landmarks",
    "image_point",
    "number",
    "segmentation",
    "text",
    "vector",
]
