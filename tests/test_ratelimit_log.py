"""RateLimitedLog: the first records of a window, then one summary line; keys are independent."""

from __future__ import annotations

import logging

from runway_bridge import _ratelimit_log
from runway_bridge._ratelimit_log import RateLimitedLog


def test_bursts_then_a_summary_per_window(monkeypatch, caplog):
    now = [100.0]
    monkeypatch.setattr(_ratelimit_log.time, "monotonic", lambda: now[0])
    log = logging.getLogger("test.ratelimit")
    limited = RateLimitedLog(log, burst=3, window=10)
    caplog.set_level(logging.WARNING, "test.ratelimit")
    written = [limited.warning("bad", "packet %d", i) for i in range(1000)]
    assert written[:3] == [True] * 3 and not any(written[3:])
    assert [r.getMessage() for r in caplog.records] == ["packet 0", "packet 1",
                                                        "packet 2 (further ones are summarised every 10 s)"]
    assert limited.warning("other", "another key") and limited.suppressed("bad") == 997
    caplog.clear()
    now[0] += 10
    assert limited.warning("bad", "packet again")
    assert [r.getMessage() for r in caplog.records] == ["... 997 more like this (bad) in the last 10 s", "packet again"]


def test_exception_keeps_the_traceback(caplog):
    limited = RateLimitedLog(logging.getLogger("test.ratelimit2"), burst=1)
    caplog.set_level(logging.ERROR, "test.ratelimit2")
    for _ in range(5):
        try:
            raise ValueError("boom")
        except ValueError:
            limited.exception("k", "failed")
    assert len(caplog.records) == 1 and caplog.records[0].exc_info[0] is ValueError


def test_keys_are_bounded():
    limited = RateLimitedLog(logging.getLogger("test.ratelimit3"), max_keys=8)
    for i in range(100):
        limited.warning(f"k{i}", "x")
    assert len(limited._windows) <= 8
