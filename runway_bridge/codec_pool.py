"""The decode/encode pool: the threads that turn wire frames into arrays and back.

A model's own thread should only run inference. Decoding the next frame's JPEG while the
current one runs, and encoding the last result meanwhile, is what lets one model use a second
core: the JPEG codecs (simplejpeg, OpenCV) and pybase64 release the GIL. One pool serves every in-process model; its
size is the machine's cores, since codec work is CPU-bound.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["run"]

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _get() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(2, os.cpu_count() or 2), thread_name_prefix="codec")
        return _pool


async def run(fn, *args):
    """`fn(*args)` on the codec pool."""
    return await asyncio.get_running_loop().run_in_executor(_get(), fn, *args)
