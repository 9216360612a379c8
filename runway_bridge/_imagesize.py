"""An image's format and size from its first bytes, without decoding it.

A 900-byte JPEG may claim 30000x30000 pixels; OpenCV allocates the whole bitmap (2.7 GB) before
it finds the data missing. Reading the size from the header first lets the bridge refuse such an
image with a 400 before anything is allocated. Only the formats parsed here are decoded at all.
"""

from __future__ import annotations

import struct

__all__ = ["image_size", "FORMATS"]

FORMATS = ("jpeg", "png", "webp", "bmp")

# JPEG start-of-frame markers (SOF0..SOF15 except DHT C4, JPG C8 and DAC CC) carry the size.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_MAX_JPEG_SCAN = 1 << 20  # EXIF and ICC segments come first; 1 MiB of them is plenty


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i, n = 2, min(len(data), _MAX_JPEG_SCAN)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2:
            return None
        if marker in _SOF:
            if i + 9 > len(data):
                return None
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        i += 2 + length
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


def image_size(data: bytes) -> tuple[str, int, int] | None:
    """``(format, width, height)`` read from the header, or None for anything else."""
    if data[:3] == b"\xff\xd8\xff":
        size = _jpeg(data)
        return ("jpeg", *size) if size else None
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return "png", w, h
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        size = _webp(data)
        return ("webp", *size) if size else None
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return "bmp", abs(w), abs(h)
    return None
