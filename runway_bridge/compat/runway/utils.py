"""The helpers of the old ``runway.utils`` that model files used, written anew for the bridge.

Downloads are not here: the bridge runs offline (``download_file`` says so).
"""

import datetime
import gzip
import inspect
import os
import re
import uuid
from urllib.parse import urlparse

import numpy as np

from runway_bridge.types import _palette

__all__ = [
    "argspec", "cast_to_obj", "download_file", "generate_uuid", "get_color_palette", "get_file_suffix_from_url",
    "gzip_compress", "gzip_decompress", "is_url", "parse_output_formats_from_header", "timestamp_millis",
    "try_cast_np_scalar",
]

_URL = re.compile(r"^(?:http|ftp)s?://[^\s/]+(?:[/?]\S*)?$", re.IGNORECASE)


def is_url(path):
    return _URL.match(str(path)) is not None


def get_file_suffix_from_url(url):
    parts = os.path.basename(urlparse(url).path).split(".")[1:]
    return "." + ".".join(parts) if parts else ""


def download_file(url, n_processes=16):
    raise RuntimeError(f"runway_bridge runs offline and does not download {url}; give a local path instead")


def gzip_compress(data):
    return gzip.compress(data)


def gzip_decompress(data):
    return gzip.decompress(data)


def try_cast_np_scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def cast_to_obj(cls_or_obj):
    return cls_or_obj() if inspect.isclass(cls_or_obj) else cls_or_obj


def timestamp_millis():
    return int((datetime.datetime.now(datetime.timezone.utc).timestamp()) * 1000)


def get_color_palette(name):
    """Only ``glasbey_bw`` (the segmentation palette) is here."""
    if name != "glasbey_bw":
        raise ValueError(f"only the glasbey_bw palette is available, not {name!r}")
    return [list(c) for c in _palette()]


def argspec(fn):
    return inspect.getfullargspec(fn)


def generate_uuid():
    return uuid.uuid4().hex


def parse_output_formats_from_header(value):
    result = {}
    for item in (s.strip() for s in value.replace(",", ";").split(";")):
        if item:
            name, fmt = item.split("=", 1)
            result[name.strip()] = fmt.strip()
    return result
