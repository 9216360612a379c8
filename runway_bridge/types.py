"""Data types of the Model SDK: schema (`to_dict`), validation (`deserialize`) and wire codecs.

The names, constructor arguments and `to_dict` keys are those of the old Runway Model SDK, so
manifests stay byte-compatible. Unlike the old SDK, every `deserialize` validates: a missing input,
a wrong length, a number out of range or an undecodable image raises `errors.BadInput` (HTTP 400)
naming the field and what was expected, in the old SDK's form ``Invalid argument: NAME. WHY``
(`BadInput` is an `InvalidArgumentError`). Constructors raise `MissingArgumentError` and
`InvalidArgumentError` as the old SDK's did.

Images are checked against the pixel limit from their header, before any decoding: a small file
claiming a huge size is refused without allocating its bitmap. OpenCV's own limit is set too.

Values on the wire are JSON. Images travel as `data:image/jpeg;base64,...` URIs (a bare base64
string is accepted too), or, on the binary fast paths, as a `Blob` holding JPEG, PNG or raw bytes.
In the author's function an image is a numpy ``uint8`` array, ``HxWx3`` RGB by default.

Example::

    from runway_bridge import image, number
    inputs = {'image': image(), 'threshold': number(default=0.5, min=0, max=1)}
"""

from __future__ import annotations

import base64
import binascii
import builtins
import functools
import inspect
import math
import os
from dataclasses import dataclass

MAX_PIXELS = 40_000_000
# OpenCV reads its limit once, at the first decode; set it before that (a backstop behind the
# header check below, which applies each context's own limit).
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from . import _codec  # noqa: E402
from ._codec import PixelLimit  # noqa: E402
from ._imagesize import image_size  # noqa: E402
from .errors import BadInput, InferenceError, InvalidArgumentError, MissingArgumentError  # noqa: E402

__all__ = [
    "BaseType",
    "Blob",
    "DecodeContext",
    "any",
    "text",
    "number",
    "boolean",
    "category",
    "vector",
    "array",
    "image",
    "segmentation",
    "file",
    "directory",
    "image_point",
    "image_bounding_box",
    "image_landmarks",
]

JPEG_QUALITY = 80
_MIME = {"jpeg": "image/jpeg", "png": "image/png"}


@dataclass
class Blob:
    """An image on a binary wire: JPEG or PNG bytes, or raw ``uint8`` pixels with their shape."""

    format: str  # 'jpeg' | 'png' | 'raw'
    data: bytes
    shape: tuple[int, ...] | None = None

    def to_data_uri(self) -> str:
        if self.format not in _MIME:
            raise InferenceError(f"cannot put a {self.format} image into a data URI")
        return f"data:{_MIME[self.format]};base64," + _codec.b64encode(self.data)

    def to_data_uri_bytes(self) -> bytes:
        """The data URI as ASCII bytes, for a body built without a 60 KB str in between."""
        if self.format not in _MIME:
            raise InferenceError(f"cannot put a {self.format} image into a data URI")
        return b"data:" + _MIME[self.format].encode() + b";base64," + _codec.b64encode_bytes(self.data)


@dataclass
class DecodeContext:
    """Limits that apply to values arriving from the network (none apply in process)."""

    file_root: str | None = None  # `file` inputs must resolve inside this folder
    refuse_files: bool = False  # the daemon without --file-root: no `file` inputs at all
    max_pixels: int = MAX_PIXELS


_LOCAL = DecodeContext()


def _as_class_instance(t):
    """Runway lets options and inputs be given as a class (`text`) or an instance (`text()`)."""
    return t() if inspect.isclass(t) else t


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _to_py(v):
    """numpy scalars to plain Python numbers, for JSON."""
    return v.item() if isinstance(v, np.generic) else v


@functools.lru_cache(maxsize=256)
def _takes(fn, n: int) -> bool:
    """Whether `fn` accepts `n` positional arguments after self (old custom types take fewer)."""
    try:
        params = list(inspect.signature(fn).parameters.values())[1:]
    except (TypeError, ValueError):
        return True
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]) >= n


def deserialize_value(t: BaseType, value, ctx: DecodeContext | None):
    """``t.deserialize(value, ctx)``, or ``t.deserialize(value)`` for an old SDK custom type."""
    if _takes(type(t).deserialize, 2):
        return t.deserialize(value, ctx)
    return t.deserialize(value)


def serialize_value(t: BaseType, value, output_format: str | None, binary: bool):
    """``t.serialize(value, output_format, binary)``, with fewer arguments for an old custom type."""
    fn = type(t).serialize
    if _takes(fn, 3):
        return t.serialize(value, output_format, binary)
    return t.serialize(value, output_format) if _takes(fn, 2) else t.serialize(value)


class BaseType:
    """Base of every data type. It is abstract, as in the old SDK: a subclass defines
    ``serialize(value, output_format=None)`` and ``deserialize(value)`` (ours also take the
    binary flag and a `DecodeContext`) and extends ``to_dict()``.
    """

    def __init__(self, data_type: str, description: str | None = None):
        self.type = data_type
        self.description = description
        self.name = data_type  # the registry renames it after its key

    def fail(self, message: str) -> BadInput:
        err = BadInput(f"Invalid argument: {self.name}. {message}", field=self.name)
        err.detail = message
        return err

    def missing(self):
        """What a command receives for this input when the client sent none and the type's
        default is None."""
        return None

    def deserialize(self, value, ctx: DecodeContext | None = None):
        raise NotImplementedError()

    def serialize(self, value, output_format: str | None = None, binary: bool = False):
        raise NotImplementedError()

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "description": self.description}

    @property
    def has_default(self) -> bool:
        return hasattr(self, "default")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class any(BaseType):  # noqa: A001 - Runway's public name
    """Any JSON value, passed through unchanged."""

    def __init__(self, description=None):
        super().__init__("any", description)

    def deserialize(self, value, ctx=None):
        return value

    def serialize(self, value, output_format=None, binary=False):
        return value


class text(BaseType):
    """A string, with optional length bounds: ``text(default='hello', max_length=200)``."""

    def __init__(self, description=None, default="", min_length=0, max_length=None):
        super().__init__("text", description)
        self.default = default
        self.min_length = min_length
        self.max_length = max_length

    def deserialize(self, value, ctx=None):
        if not isinstance(value, str):
            raise self.fail(f"expected a string, got {type(value).__name__}")
        if len(value) < (self.min_length or 0):
            raise self.fail(f"text is {len(value)} characters, at least {self.min_length} expected")
        if self.max_length and len(value) > self.max_length:
            raise self.fail(f"text is {len(value)} characters, at most {self.max_length} allowed")
        return value

    def serialize(self, value, output_format=None, binary=False):
        return str(value)

    def to_dict(self):
        d = super().to_dict()
        d["default"] = self.default
        d["minLength"] = self.min_length
        if self.max_length:
            d["maxLength"] = self.max_length
        return d


class number(BaseType):
    """A number, optionally bounded: ``number(default=0.5, min=0, max=1, step=0.01)``.

    Without a default it defaults to `min`, else `max`, else 0 (``number(min=1)`` starts at 1).
    """

    def __init__(self, description=None, default=None, step=None, min=None, max=None):  # noqa: A002
        super().__init__("number", description)
        if default is None:
            default = min if min is not None else max if max is not None else 0
        self.default = default
        self.min = min
        self.max = max
        self.step = step

    def deserialize(self, value, ctx=None):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise self.fail(f"expected a number, got the string {value!r}") from None
        if not _is_number(value) or not math.isfinite(value):
            raise self.fail(f"expected a finite number, got {value!r}")
        value = _to_py(value)
        if self.min is not None and value < self.min:
            raise self.fail(f"{value} is below the minimum {self.min}")
        if self.max is not None and value > self.max:
            raise self.fail(f"{value} is above the maximum {self.max}")
        return value

    def serialize(self, value, output_format=None, binary=False):
        return _to_py(value)

    def to_dict(self):
        d = super().to_dict()
        d["default"] = self.default
        for key in ("min", "max", "step"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        return d


class boolean(BaseType):
    """True or false. Only JSON booleans, and the exact strings 'true' and 'false' (for query
    parameters and OSC); not 1, 0 or 'True' (the old SDK was as strict, and `runway.boolean`
    refuses the strings too)."""

    def __init__(self, description=None, default=False):
        super().__init__("boolean", description)
        self.default = default

    def deserialize(self, value, ctx=None):
        if isinstance(value, str) and value in ("true", "false"):
            return value == "true"
        if not isinstance(value, (bool, np.bool_)):
            raise self.fail(f"value type {type(value).__name__} is not a boolean: expected true or false, got {value!r}")
        return bool(value)

    def serialize(self, value, output_format=None, binary=False):
        if not isinstance(value, (bool, np.bool_)):
            raise self.fail(f"value type {type(value).__name__} is not a boolean")
        return bool(value)

    def to_dict(self):
        d = super().to_dict()
        d["default"] = self.default
        return d


class category(BaseType):
    """One of a fixed list of strings: ``category(choices=['rgb', 'bgr'], default='rgb')``."""

    def __init__(self, description=None, choices=None, default=None):
        super().__init__("category", description)
        if not choices:
            raise MissingArgumentError("choices")
        if default is not None and default not in choices:
            raise InvalidArgumentError(self.name, f"default argument {default} is not in choices list")
        self.choices = list(choices)
        self.default = default if default is not None else self.choices[0]

    def deserialize(self, value, ctx=None):
        try:
            ok = value in self.choices
        except TypeError:  # an unhashable value compared against the choices
            ok = False
        if not ok:
            raise self.fail(f"category value {value!r} is not one of {self.choices}")
        return value

    def serialize(self, value, output_format=None, binary=False):
        return value

    def to_dict(self):
        d = super().to_dict()
        d["oneOf"] = self.choices
        d["default"] = self.default
        return d


class vector(BaseType):
    """A fixed-length list of floats, e.g. a latent: ``vector(length=16, sampling_std=1)``.

    Arrives in the command as a numpy ``float32`` array. Without a default the manifest says
    ``"default": null`` (as the old SDK's did) and a request without it gets the mean vector.
    """

    def __init__(self, length=None, description=None, default=None, sampling_mean=0, sampling_std=1):
        super().__init__("vector", description)
        if default is not None:
            if length is None:
                length = len(default)
            elif len(default) != length:
                raise InvalidArgumentError(self.name, "default argument does not match expected length")
        if length is None:
            raise MissingArgumentError("length")
        self.length = int(length)
        self.sampling_mean = sampling_mean
        self.sampling_std = sampling_std
        self.default = np.asarray(default).tolist() if default is not None else None

    def missing(self):
        return np.full(self.length, self.sampling_mean, np.float32)

    def deserialize(self, value, ctx=None):
        try:
            arr = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise self.fail(f"expected a list of {self.length} numbers") from None
        if arr.ndim != 1 or arr.shape[0] != self.length:
            got = arr.shape[0] if arr.ndim == 1 else f"shape {arr.shape}"
            raise self.fail(f"expected a vector of length {self.length}, got {got}")
        if not np.isfinite(arr).all():
            raise self.fail("vector holds a non-finite number")
        return arr

    def serialize(self, value, output_format=None, binary=False):
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise self.fail(f"expected numbers, got {type(value).__name__}")
        return (arr.ravel() if arr.ndim else arr).tolist()

    def to_dict(self):
        d = super().to_dict()
        d["length"] = self.length
        d["samplingMean"] = self.sampling_mean
        d["samplingStd"] = self.sampling_std
        d["default"] = self.default
        return d


class array(BaseType):
    """A list of values of one type: ``array(item_type=text, min_length=1, max_length=10)``."""

    def __init__(self, item_type=None, description=None, min_length=0, max_length=None):
        super().__init__("array", description)
        if item_type is None:
            raise MissingArgumentError("item_type")
        self.item_type = _as_class_instance(item_type)
        self.item_type.name = f"{self.item_type.type}_array_item"
        self.min_length = min_length
        self.max_length = max_length

    def deserialize(self, value, ctx=None):
        if isinstance(value, np.ndarray):
            value = list(value)
        if not isinstance(value, (list, tuple)):
            raise self.fail(f"expected a list, got {type(value).__name__}")
        if len(value) < (self.min_length or 0):
            raise self.fail(f"{len(value)} items, at least {self.min_length} expected")
        if self.max_length and len(value) > self.max_length:
            raise self.fail(f"{len(value)} items, at most {self.max_length} allowed")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(deserialize_value(self.item_type, item, ctx))
            except InvalidArgumentError as e:
                raise self.fail(f"item [{i}]: {e.detail}") from None
        return out

    def serialize(self, value, output_format=None, binary=False):
        return [serialize_value(self.item_type, v, output_format, binary) for v in value]

    def to_dict(self):
        d = super().to_dict()
        d["itemType"] = self.item_type.to_dict()
        d["minLength"] = self.min_length
        if self.max_length:
            d["maxLength"] = self.max_length
        return d


# --- images -------------------------------------------------------------------------------


def decode_image_bytes(data: bytes, max_pixels: int = MAX_PIXELS,
                       min_size: tuple[int, int] | None = None) -> np.ndarray | None:
    """JPEG, PNG, WebP or BMP bytes to an RGB(A) or grey uint8 array; None when undecodable.

    The size comes from the header first: over `max_pixels` raises `PixelLimit` before a single
    pixel is allocated. Other formats (TIFF, PPM, ...) are not decoded at all. `min_size`
    (width, height): a JPEG may come back scaled down by 1/2, 1/4 or 1/8, never below it.
    """
    size = image_size(data)
    if size is None:
        return None
    fmt, w, h = size
    if w <= 0 or h <= 0:
        return None
    if w * h > max_pixels:
        raise PixelLimit(f"the {fmt.upper()} header says {w}x{h}, over the limit of {max_pixels} pixels; "
                         "send a smaller image")
    if fmt == "jpeg":
        return _codec.jpeg_decode(data, min_size=min_size, max_pixels=max_pixels)
    return _codec.cv_decode(data)


def encode_image(arr: np.ndarray, fmt: str) -> bytes:
    """An RGB(A) or grey uint8 array to JPEG or PNG bytes."""
    if fmt == "jpeg":
        if arr.ndim == 3 and arr.shape[2] == 4:
            arr = arr[:, :, :3]
        elif arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        try:
            return _codec.jpeg_encode(arr, JPEG_QUALITY)
        except ValueError as e:
            raise InferenceError(f"could not encode a {arr.shape} image as jpeg ({e})") from None
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise InferenceError(f"could not encode a {arr.shape} image as {fmt}")
    return buf.tobytes()


def decode_base64(value: str) -> bytes:
    """A data URI or bare base64 string to bytes; raises ValueError when it is not base64."""
    if value.startswith("data:"):
        value = value[value.find(",") + 1 :]
    try:
        return _codec.b64decode(value)
    except (binascii.Error, ValueError):
        # Tolerate missing padding and URL-safe alphabets that some clients send.
        s = value.strip().replace("-", "+").replace("_", "/")
        try:
            return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not valid base64") from None


def _to_pixels(value, max_pixels: int = MAX_PIXELS, min_size: tuple[int, int] | None = None):
    """Whatever an image value is (array, PIL image, Blob, bytes, data URI) to a uint8 array."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "mode") and hasattr(value, "size"):  # a PIL image, without importing PIL
        return np.asarray(value)
    if isinstance(value, Blob):
        if value.format == "raw":
            if not value.shape:
                raise ValueError("a raw image needs its shape")
            if math.prod(value.shape[:2]) > max_pixels:
                raise PixelLimit(f"{value.shape[1]}x{value.shape[0]} is over the limit of {max_pixels} pixels")
            return np.frombuffer(value.data, np.uint8).reshape(value.shape)
        value = value.data
    if isinstance(value, str):
        value = decode_base64(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return decode_image_bytes(bytes(value), max_pixels, min_size)
    raise TypeError(type(value).__name__)


def convert_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    """Grey, RGB and RGBA convert into each other; RGBA to an RGB model is not an error.

    Transparent pixels are laid over white rather than dropped to the (often black) colour
    stored under them, so dark text on a transparent PNG stays readable.
    """
    have = 1 if arr.ndim == 2 else arr.shape[2]
    if have == 4 and channels != 4 and arr[:, :, 3].min() < 255:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255
        rgb = arr[:, :, :3].astype(np.float32) * alpha + 255 * (1 - alpha)
        arr, have = rgb.round().astype(np.uint8), 3
    if arr.ndim == 3 and have == 1:
        arr, have = arr[:, :, 0], 1
    if have == channels:
        return arr if channels != 1 or arr.ndim == 2 else arr[:, :, 0]
    codes = {
        (1, 3): cv2.COLOR_GRAY2RGB,
        (1, 4): cv2.COLOR_GRAY2RGBA,
        (3, 1): cv2.COLOR_RGB2GRAY,
        (3, 4): cv2.COLOR_RGB2RGBA,
        (4, 1): cv2.COLOR_RGBA2GRAY,
        (4, 3): cv2.COLOR_RGBA2RGB,
    }
    return cv2.cvtColor(arr, codes[(have, channels)])


class image(BaseType):
    """An image; the command receives a numpy ``uint8`` array (HxWx3 RGB by default).

    Outputs may be numpy arrays or PIL images. Three channels go out as JPEG, others as PNG,
    unless `default_output_format` or the client's ``X-Runway-Output-Format`` says otherwise.
    """

    def __init__(
        self,
        description=None,
        channels=3,
        min_width=None,
        min_height=None,
        max_width=None,
        max_height=None,
        width=None,
        height=None,
        default_output_format=None,
    ):
        super().__init__("image", description)
        if channels not in (1, 3, 4):
            raise InvalidArgumentError(self.name, "channels value needs to be 1, 3, or 4")
        if default_output_format and str(default_output_format).upper() not in ("JPEG", "PNG"):
            raise InvalidArgumentError(self.name, 'default_output_format needs to be "JPEG" or "PNG"')
        self.channels = channels
        self.default_output_format = (str(default_output_format).upper() if default_output_format
                                      else "JPEG" if channels == 3 else "PNG")
        self.min_width, self.min_height = min_width, min_height
        self.max_width, self.max_height = max_width, max_height
        self.width, self.height = width, height

    def _pixels(self, value, ctx):
        limit = (ctx or _LOCAL).max_pixels
        # A model that takes a fixed size smaller than the frame: let libjpeg decode at 1/2, 1/4
        # or 1/8 scale (never below that size). Not with min/max bounds: those judge the frame.
        bounded = self.min_width or self.min_height or self.max_width or self.max_height
        min_size = (self.width, self.height) if self.width and self.height and not bounded else None
        try:
            arr = _to_pixels(value, limit, min_size)
        except PixelLimit as e:
            raise self.fail(str(e)) from None
        except (ValueError, TypeError) as e:
            raise self.fail(f"could not read the image ({e}); send a JPEG or PNG data URI") from None
        if arr is None:
            raise self.fail("the bytes are not a JPEG or PNG image (truncated or another format?)")
        if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
            raise self.fail(f"expected 8-bit pixels with 1, 3 or 4 channels, got {arr.dtype} {arr.shape}")
        h, w = arr.shape[:2]
        if h * w > limit:
            raise self.fail(f"{w}x{h} is over the limit of {limit} pixels")
        for got, lo, hi, what in ((w, self.min_width, self.max_width, "width"), (h, self.min_height, self.max_height, "height")):
            if lo and got < lo:
                raise self.fail(f"{what} {got} is below the minimum {lo}")
            if hi and got > hi:
                raise self.fail(f"{what} {got} is above the maximum {hi}")
        return arr

    def deserialize(self, value, ctx=None):
        arr = self._pixels(value, ctx)
        arr = convert_channels(arr, self.channels)
        if self.width and self.height and arr.shape[:2] != (self.height, self.width):
            arr = cv2.resize(arr, (self.width, self.height), interpolation=cv2.INTER_AREA)
        return arr

    def serialize(self, value, output_format=None, binary=False):
        arr = _output_pixels(self, value)
        if arr.dtype != np.uint8:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        arr = convert_channels(arr, self.channels)
        fmt = (output_format or self.default_output_format).lower()
        if fmt == "raw":
            return Blob("raw", arr.tobytes(), arr.shape)
        if fmt not in _MIME:
            raise BadInput(f"{self.name}: output format {fmt!r} is not JPEG, PNG or RAW", field=self.name)
        blob = Blob(fmt, encode_image(arr, fmt))
        return blob if binary else blob.to_data_uri()

    def to_dict(self):
        d = super().to_dict()
        d["channels"] = self.channels
        for key, attr in (("minWidth", "min_width"), ("maxWidth", "max_width"), ("minHeight", "min_height"),
                          ("maxHeight", "max_height"), ("width", "width"), ("height", "height")):
            if getattr(self, attr):
                d[key] = getattr(self, attr)
        d["defaultOutputFormat"] = self.default_output_format
        return d


def _output_pixels(t: BaseType, value) -> np.ndarray:
    """A model's image output as pixels; anything else is an `InvalidArgumentError`."""
    try:
        arr = _to_pixels(value)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.dtype.kind not in "biuf" or arr.ndim not in (2, 3) or 0 in arr.shape:
        raise t.fail(f"value is not an image: expected a PIL or numpy image, got {type(value).__name__}")
    return np.ascontiguousarray(arr)


@functools.lru_cache(maxsize=1)
def _palette() -> list[list[int]]:
    """The old SDK's colours for labels given none: colorcet's glasbey_bw, indexed by label id."""
    import colorcet

    return [[int(c[0] * 255), int(c[1] * 255), int(c[2] * 255)] for c in colorcet.glasbey_bw]


class segmentation(image):
    """A per-pixel label map. The command returns HxW label ids; clients get a colour-map PNG.

    As an input it accepts a 1-channel PNG of ids or an RGB PNG in the label colours.
    """

    def __init__(self, label_to_id=None, description=None, label_to_color=None, default_label=None,
                 min_width=None, min_height=None, max_width=None, max_height=None, width=None, height=None):
        super().__init__(description, 1, min_width, min_height, max_width, max_height, width, height, "PNG")
        self.type = self.name = "segmentation"
        if label_to_id is None:
            raise MissingArgumentError("label_to_id")
        if not isinstance(label_to_id, dict) or not label_to_id:
            raise InvalidArgumentError(self.name, "label_to_id argument has invalid type")
        if default_label is not None and default_label not in label_to_id:
            raise InvalidArgumentError(self.name, f"default_label {default_label} is not in label map")
        if not all(isinstance(v, int) and 0 <= v <= 255 for v in label_to_id.values()):
            raise InvalidArgumentError(self.name, "label ids must be integers from 0 to 255")
        self.label_to_id = dict(label_to_id)
        colors = dict(label_to_color or {})
        self.label_to_color = {k: list(colors[k]) if k in colors else _palette()[v] for k, v in self.label_to_id.items()}
        self.default_label = default_label or next(iter(self.label_to_id))
        self._lut = np.zeros((256, 3), np.uint8)
        for label, idx in self.label_to_id.items():
            self._lut[idx] = self.label_to_color[label]

    def deserialize(self, value, ctx=None):
        arr = self._pixels(value, ctx)
        if arr.ndim == 2:
            return arr
        # A colour map: each pixel takes the label of the nearest label colour (as the old SDK
        # did), so a JPEG-blurred map still reads. Distances per distinct colour, not per pixel.
        packed = (arr[:, :, 0].astype(np.uint32) << 16) | (arr[:, :, 1].astype(np.uint32) << 8) | arr[:, :, 2]
        uniq, inverse = np.unique(packed.ravel(), return_inverse=True)
        rgb = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1).astype(np.int32)
        colors = np.array(list(self.label_to_color.values()), np.int32)
        ids = np.array([self.label_to_id[k] for k in self.label_to_color], np.uint8)
        nearest = ((rgb[:, None, :] - colors[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        return ids[nearest][inverse].reshape(arr.shape[:2])

    def serialize(self, value, output_format=None, binary=False):
        ids = _output_pixels(self, value)
        if ids.ndim == 2:
            rgb = self._lut[ids.astype(np.uint8)]
        else:
            rgb = ids.astype(np.uint8)
        blob = Blob("png", encode_image(rgb, "png"))
        return blob if binary else blob.to_data_uri()

    def to_dict(self):
        d = BaseType.to_dict(self)
        d["labels"] = list(self.label_to_id)
        d["defaultLabel"] = self.default_label
        d["labelToId"] = self.label_to_id
        d["labelToColor"] = self.label_to_color
        for key, attr in (("minWidth", "min_width"), ("maxWidth", "max_width"), ("minHeight", "min_height"),
                          ("maxHeight", "max_height"), ("width", "width"), ("height", "height")):
            if getattr(self, attr):
                d[key] = getattr(self, attr)
        return d


# --- files --------------------------------------------------------------------------------


class file(BaseType):  # noqa: A001 - Runway's public name
    """A path to a file (or folder). From the network, only paths inside the allowed folder.

    Without an allowed folder the path is returned as given (relative paths stay relative, as in
    the old SDK); inside one it is returned resolved. URLs are refused: the bridge runs offline.
    """

    def __init__(self, description=None, is_directory=False, extension=None, default=None):
        super().__init__("file", description)
        self.is_directory = is_directory
        self.extension = extension
        if default is not None:
            self.default = default

    def deserialize(self, value, ctx=None):
        if not isinstance(value, str) or not value:
            raise self.fail("expected a path")
        if "://" in value:
            raise self.fail("URLs are not fetched (the bridge runs offline); give a local path")
        root = (ctx or _LOCAL).file_root
        if root is None and (ctx or _LOCAL).refuse_files:
            raise self.fail("file inputs from the network are refused; start the daemon with "
                            "--file-root FOLDER to allow paths inside that folder")
        if "\x00" in value:
            raise self.fail("the path holds a NUL character")
        path = os.path.realpath(os.path.join(root, value) if root else value)
        if root and os.path.commonpath([path, os.path.realpath(root)]) != os.path.realpath(root):
            raise self.fail(f"{value!r} is outside the allowed folder {root}")
        if not os.path.exists(path):
            raise self.fail(f"{value!r} does not exist")
        if self.is_directory != os.path.isdir(path):
            raise self.fail(f"{value!r} is {'not ' if self.is_directory else ''}a folder")
        if self.extension and not path.endswith(self.extension):
            raise self.fail(f"{value!r} does not end in {self.extension}")
        return path if root else value

    def serialize(self, value, output_format=None, binary=False):
        return value

    def to_dict(self):
        d = super().to_dict()
        if self.is_directory:
            d["isDirectory"] = True
        if self.extension:
            d["extension"] = self.extension
        if getattr(self, "default", None):
            d["default"] = self.default
        return d


class directory(file):
    """A path to a folder."""

    def __init__(self, description=None, default=None):
        super().__init__(description, is_directory=True, default=default)


# --- geometry (normalised 0..1, origin top left) ------------------------------------------


def _floats(t: BaseType, value, n: int, what: str) -> list[float]:
    try:
        out = [float(v) for v in builtins.list(value)[: n + 1]]
    except (TypeError, ValueError):
        raise t.fail(f"expected {what}") from None
    if len(out) != n or not all(math.isfinite(v) for v in out):
        raise t.fail(f"expected {what}")
    return out


class image_point(BaseType):
    """A point ``[x, y]`` in normalised image coordinates."""

    def __init__(self, description=None):
        super().__init__("image_point", description)

    def deserialize(self, value, ctx=None):
        return _floats(self, value, 2, "[x, y]")

    def serialize(self, value, output_format=None, binary=False):
        return _floats(self, builtins.list(value)[:2], 2, "[x, y]")


class image_bounding_box(BaseType):
    """A box ``[xmin, ymin, xmax, ymax]`` in normalised image coordinates."""

    def __init__(self, description=None):
        super().__init__("image_bounding_box", description)

    def deserialize(self, value, ctx=None):
        box = _floats(self, value, 4, "[xmin, ymin, xmax, ymax]")
        if box[0] >= box[2] or box[1] >= box[3]:
            raise self.fail("xmin must be below xmax and ymin below ymax")
        return box

    def serialize(self, value, output_format=None, binary=False):
        return self.deserialize(value)


class image_landmarks(BaseType):
    """A fixed number of ``[x, y]`` points, optionally named and connected for drawing."""

    def __init__(self, length, description=None, labels=None, connections=None):
        super().__init__("image_landmarks", description)
        if length <= 0:
            raise InvalidArgumentError(self.name, "landmarks length must be greater than 0")
        if labels and len(labels) != length:
            raise InvalidArgumentError(self.name, "length of labels list does not match provided length")
        if connections is not None:
            if not labels:
                raise InvalidArgumentError(self.name, "connections cannot be defined if labels is undefined")
            for i, pair in enumerate(connections):
                if len(pair) != 2:
                    raise InvalidArgumentError(self.name, f"Expected connection at index {i} to have 2 elements, "
                                                          f"instead got {len(pair)} elements")
                for label in pair:
                    if label not in labels:
                        raise InvalidArgumentError(self.name, f"{label} is not a valid landmark label")
        self.length = length
        self.labels = labels
        self.connections = connections

    def _points(self, value):
        pts = np.asarray(value, dtype=np.float64) if not isinstance(value, np.ndarray) else value
        if pts.ndim != 2 or pts.shape[0] != self.length or pts.shape[1] < 2:
            got = pts.shape[0] if pts.ndim >= 1 else 0
            raise self.fail(f"expected {self.length} points of [x, y], got {got}")
        return pts[:, :2].astype(np.float64)

    def deserialize(self, value, ctx=None):
        try:
            return self._points(value).tolist()
        except (TypeError, ValueError):
            raise self.fail(f"expected {self.length} points of [x, y]") from None

    def serialize(self, value, output_format=None, binary=False):
        return self.deserialize(value)

    def to_dict(self):
        d = super().to_dict()
        d["length"] = self.length
        if self.labels:
            d["labels"] = self.labels
        if self.connections:
            d["connections"] = self.connections
        return d
