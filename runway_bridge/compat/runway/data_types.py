"""Runway's data types; images and segmentations arrive as PIL images, as in the old SDK."""

from PIL import Image

from runway_bridge import types as _t
from runway_bridge.types import (
    BaseType,
    any,
    array,
    boolean,
    category,
    directory,
    file,
    image_bounding_box,
    image_landmarks,
    image_point,
    number,
    text,
    vector,
)

__all__ = [
    "BaseType", "any", "array", "boolean", "category", "directory", "file", "image", "image_bounding_box",
    "image_landmarks", "image_point", "number", "segmentation", "text", "vector",
]

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


class image(_t.image):
    __doc__ = _t.image.__doc__

    def deserialize(self, value, ctx=None):
        return Image.fromarray(super().deserialize(value, ctx), _MODES[self.channels])


class segmentation(_t.segmentation):
    __doc__ = _t.segmentation.__doc__

    def deserialize(self, value, ctx=None):
        return Image.fromarray(super().deserialize(value, ctx), "L")
