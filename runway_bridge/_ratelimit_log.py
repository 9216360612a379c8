"""Rate-limited logging for errors that one client can repeat per packet or per frame.

A flood of bad packets must not become a flood of tracebacks (disk, terminal, CPU). Each key
(e.g. ``"osc-reject"``) logs its first `burst` records per `window` seconds; the rest are counted
and summarised once the window is over: ``... 1234 more like this in the last 10 s``::

    _limited = RateLimitedLog(log, burst=5, window=10)
    _limited.warning("osc-reject", "OSC from %s: %s", addr, text)
    _limited.exception("deliver", "a subscriber of %s failed", model)   # inside an except block
"""

from __future__ import annotations

import logging
import time

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """Per-key windows of at most `burst` records, then one summary line per window."""

    def __init__(self, logger: logging.Logger, *, burst: int = 5, window: float = 10.0, max_keys: int = 256):
        self.logger, self.burst, self.window, self.max_keys = logger, burst, window, max_keys
        self._windows: dict[str, list] = {}  # key -> [window start, records in it, suppressed]

    def log(self, level: int, key: str, msg: str, *args, exc_info: bool = False) -> bool:
        """Log unless `key` is over its budget; returns whether the record was written."""
        now = time.monotonic()
        w = self._windows.get(key)
        if w is None:
            if len(self._windows) >= self.max_keys:  # keys are ours, but bound them anyway
                self._windows.pop(next(iter(self._windows)))
            w = self._windows[key] = [now, 0, 0]
        if now - w[0] >= self.window:
            if w[2]:
                self.logger.log(level, "... %d more like this (%s) in the last %.0f s", w[2], key, now - w[0])
            w[:] = [now, 0, 0]
        w[1] += 1
        if w[1] > self.burst:
            w[2] += 1
            return False
        if w[1] == self.burst:
            msg += " (further ones are summarised every %.0f s)"
            args = (*args, self.window)
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def warning(self, key: str, msg: str, *args) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def error(self, key: str, msg: str, *args) -> bool:
        return self.log(logging.ERROR, key, msg, *args)

    def exception(self, key: str, msg: str, *args) -> bool:
        """An error with the current traceback (call it from an ``except`` block)."""
        return self.log(logging.ERROR, key, msg, *args, exc_info=True)

    def suppressed(self, key: str) -> int:
        w = self._windows.get(key)
        return w[2] if w else 0
