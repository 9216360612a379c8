"""The codec primitives every image on a wire goes through: base64 and JPEG, both ways.

One place, so the transports and the benchmark's codec floor (benchmarks/bench_throughput.py)
use the same ones. Measured per 640x480 frame (docs/benchmarks.md): simplejpeg (libjpeg-turbo,
decoding straight to RGB and encoding from it) beats OpenCV's decode + colour swap, and pybase64
(SIMD) is ~40x faster than the standard library. Both are wheel-only dependencies; if either is
missing (or a JPEG is one libjpeg-turbo's RGB path refuses, such as CMYK) the OpenCV and standard
library paths below do the same job.
"""

from __future__ import annotations

import base64
import ctypes
import os

import cv2
import numpy as np

try:
    import simplejpeg
except ImportError:  # pragma: no cover - a core dependency; the fallback keeps a broken install working
    simplejpeg = None
try:
    import pybase64
except ImportError:  # pragma: no cover
    pybase64 = None

__all__ = ["PixelLimit", "b64decode", "b64encode", "b64encode_bytes", "jpeg_decode", "jpeg_encode", "cv_decode"]


def b64decode(s: str | bytes) -> bytes:
    """Strict base64: any character outside the alphabet (whitespace included) is an error."""
    if pybase64 is not None:
        return pybase64.b64decode(s, validate=True)
    return base64.b64decode(s, validate=True)


def b64encode(data: bytes) -> str:
    if pybase64 is not None:
        return pybase64.b64encode_as_string(data)
    return base64.b64encode(data).decode("ascii")


def b64encode_bytes(data: bytes) -> bytes:
    return pybase64.b64encode(data) if pybase64 is not None else base64.b64encode(data)


class PixelLimit(ValueError):
    """An image whose header claims more pixels than allowed."""


def jpeg_decode(data: bytes, *, min_size: tuple[int, int] | None = None,
                max_pixels: int | None = None) -> np.ndarray | None:
    """JPEG bytes to HxWx3 RGB, or HxW for a greyscale JPEG; None when undecodable.

    `min_size` (width, height) lets libjpeg scale the DCT down (by n/8) as long as the result
    stays at least that large: a model that takes 320x240 need not decode 1280x960.
    `max_pixels`: libjpeg's own reading of the header must agree with the caller's check (as
    OPENCV_IO_MAX_IMAGE_PIXELS backs it up on the OpenCV path).
    """
    if simplejpeg is not None:
        try:
            h, w, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        except ValueError:  # a header TurboJPEG's API refuses (an odd chroma subsampling): OpenCV
            return cv_decode(data)
        if max_pixels is not None and h * w > max_pixels:
            raise PixelLimit(f"the JPEG is {w}x{h}, over the limit of {max_pixels} pixels; send a smaller image")
        grey = colorspace == "Gray"
        kw = {"min_width": min_size[0], "min_height": min_size[1]} if min_size else {}
        try:
            arr = simplejpeg.decode_jpeg(data, colorspace="GRAY" if grey else "RGB", **kw)
            return arr[:, :, 0] if grey else arr
        except ValueError:
            pass  # CMYK, arithmetic coding, a truncated file: OpenCV decodes what it can, as before
    return cv_decode(data)


def cv_decode(data: bytes) -> np.ndarray | None:
    """OpenCV's decoder (JPEG, PNG, WebP, BMP) to RGB(A) or grey uint8; None when undecodable."""
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        return None
    if arr.dtype != np.uint8:
        arr = (arr / 257).astype(np.uint8) if arr.dtype == np.uint16 else arr.astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    return arr


def jpeg_encode(pixels: np.ndarray, quality: int) -> bytes:
    """HxWx3 RGB or HxW grey to a baseline JPEG (4:2:0 chroma, as OpenCV and browsers write)."""
    if simplejpeg is not None:
        arr = np.ascontiguousarray(pixels if pixels.ndim == 3 else pixels[:, :, None])
        return simplejpeg.encode_jpeg(arr, quality, "RGB" if arr.shape[2] == 3 else "GRAY", "420")
    arr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR) if pixels.ndim == 3 else pixels
    ok, buf = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode a {pixels.shape} image as JPEG")
    return buf.tobytes()


def _keep_frame_buffers() -> None:
    """Stop glibc handing each frame's buffers back to the kernel.

    A 640x480 RGB frame (900 KB) is over glibc's mmap threshold, and a freed one is trimmed off the
    top of its thread's heap, so every frame's pixels came from fresh pages: measured 0.7 ms of
    system time per frame in the model thread, a fifth of the whole /query path. Frames of up to
    16 MB now come from the heap, which keeps up to 32 MB free for the next one. An explicit
    MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ in the environment wins; not glibc: nothing.
    """
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") or os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 16 << 20)
    mallopt(m_trim_threshold, 32 << 20)


_keep_frame_buffers()
