"""The application key under which every transport finds the daemon's `Bridge`.

It lives here, not in `daemon.py`, because `daemon.py` imports the transports: a key defined
there made every transport import the module that imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .daemon import Bridge

__all__ = ["BRIDGE"]

BRIDGE: web.AppKey[Bridge] = web.AppKey("bridge")
