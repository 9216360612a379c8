"""Runway's data types with the old SDK's behaviour where model files can tell the difference.

Everything else is runway_bridge's own type (which validates what the old SDK let through). Here:
images and segmentations arrive as PIL images; ``number()`` without a default takes
``default or min or max or 0`` exactly as the old SDK computed it; ``boolean`` accepts only
booleans; a ``vector`` input the client left out arrives as None, and a bare number as a numpy
scalar array; ``image_landmarks`` points must have exactly two coordinates.
"""

import numpy as np
from PIL import Image

from runway_bridge import types as _t
from runway_bridge.types import (
    BaseType,
    any,
    array,
    category,
    directory,
    file,
    image_bounding_box,
    image_point,
    text,
)

__all__ = [
    "BaseType", "any", "array", "boolean", "category", "directory", "file", "image", "image_bounding_box",
    "image_landmarks", "image_point", "number", "segmentation", "text", "vector",
]

# Model code that opens files with PIL gets the bridge's pixel limit too (PIL warns above it and
# refuses above twice it).
Image.MAX_IMAGE_PIXELS = min(Image.MAX_IMAGE_PIXELS or _t.MAX_PIXELS, _t.MAX_PIXELS)

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


class image(_t.image):
    __doc__ = _t.image.__doc__

    def deserialize(self, value, ctx=None):
        return Image.fromarray(super().deserialize(value, ctx), _MODES[self.channels])


class segmentation(_t.segmentation):
    __doc__ = _t.segmentation.__doc__

    def deserialize(self, value, ctx=None):
        return Image.fromarray(super().deserialize(value, ctx), "L")


class number(_t.number):
    __doc__ = _t.number.__doc__

    def __init__(self, description=None, default=None, step=None, min=None, max=None):  # noqa: A002
        super().__init__(description, default or min or max or 0, step, min, max)


class boolean(_t.boolean):
    """True or false: JSON booleans only (the string 'true' is refused, as the old SDK did)."""

    def deserialize(self, value, ctx=None):
        if isinstance(value, str):
            raise self.fail(f"value type {type(value).__name__} is not a boolean")
        return super().deserialize(value, ctx)


class vector(_t.vector):
    __doc__ = _t.vector.__doc__

    def missing(self):
        return None

    def deserialize(self, value, ctx=None):
        if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            return np.array(value)
        return super().deserialize(value, ctx)


class image_landmarks(_t.image_landmarks):
    __doc__ = _t.image_landmarks.__doc__

    def _strict(self, value):
        try:
            n = len(value)
            lengths = [len(p) for p in value]
        except TypeError:
            raise self.fail(f"expected {self.length} points of [x, y]") from None
        if n != self.length:
            raise self.fail(f"Expected array of length {self.length}, instead got array of length {n}")
        for i, k in enumerate(lengths):
            if k != 2:
                raise self.fail(f"Expected point at index {i} to have 2 elements, instead got {k} elements")

    def deserialize(self, value, ctx=None):
        self._strict(value)
        return super().deserialize(value, ctx)

    def serialize(self, value, output_format=None, binary=False):
        self._strict(value)
        return super().serialize(value, output_format, binary)
