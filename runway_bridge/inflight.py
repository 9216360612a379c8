"""One budget for the bytes that frames hold while they wait in or run through any host.

Every host's request queue and stream slots hold client frames (a 30 MiB PNG each, if a client
likes). Per-host limits do not bound the sum: twenty clients on four models would. So each
frame is charged here when a host accepts it and released when its call ends or it is dropped;
a frame that would take the total over `limit` is refused with `BackendUnavailable` (HTTP 503
with Retry-After, an error message on streams), before it is queued, never after.
"""

from __future__ import annotations

import numpy as np

from .errors import BackendUnavailable
from .types import Blob

__all__ = ["Budget", "frame_bytes", "DEFAULT_LIMIT"]

DEFAULT_LIMIT = 256 * 1024 * 1024
_MAX_NODES = 4096  # values walked per frame; beyond that, 8 bytes per remaining item is assumed


def frame_bytes(inputs) -> int:
    """About how many bytes a frame's inputs hold: images, strings, arrays (walked iteratively)."""
    total, stack, seen = 0, [inputs], 0
    while stack:
        v = stack.pop()
        seen += 1
        if isinstance(v, Blob):
            total += len(v.data)
        elif isinstance(v, (str, bytes, bytearray, memoryview)):
            total += len(v)
        elif isinstance(v, np.ndarray):
            total += v.nbytes
        elif isinstance(v, dict):
            total += 64 + 8 * len(v)
            if seen < _MAX_NODES:
                stack.extend(v.keys())
                stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            total += 56 + 8 * len(v)
            if seen < _MAX_NODES:
                stack.extend(v)
        else:
            total += 32
    return total


class Budget:
    """Bytes held by frames across all hosts; `charge` refuses what would exceed `limit`."""

    def __init__(self, limit: int = DEFAULT_LIMIT):
        if limit <= 0:
            raise ValueError(f"--max-inflight {limit}: the in-flight byte budget must be a positive number of bytes")
        self.limit, self.used, self.refused = limit, 0, 0

    def charge(self, n: int, model: str, release: int = 0) -> None:
        """Take `n` bytes (giving back `release` at once, for a frame that replaces another)."""
        if n > release and self.used - release + n > self.limit:
            self.refused += 1
            mib = 1024 * 1024
            raise BackendUnavailable(
                f"the daemon holds {self.used / mib:.1f} MiB of frames in flight; a {n / mib:.1f} MiB frame for "
                f"{model} would pass the {self.limit / mib:.0f} MiB budget (--max-inflight); retry shortly",
                retry_after=1)
        self.used += n - release

    def release(self, n: int) -> None:
        self.used = max(0, self.used - n)
