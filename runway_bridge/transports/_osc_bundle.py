"""Each result as one OSC bundle, and the per-result channels (fps, latency, frame, dropped, found).

TouchDesigner's OSC In CHOP, like most OSC receivers, takes a bundle's messages as arriving at
once, so one result is one update of every channel instead of 40 datagrams spread over a frame.
A result whose messages do not fit one datagram goes out as several bundles, each of at most
`limit` bytes, messages kept whole and in order (`BUNDLE_OVERHEAD` is what a bundle adds to a
message, so messages are built for ``limit - BUNDLE_OVERHEAD``).

Per-result channels, beside the outputs' numbers, for model M:

- ``/M/result/fps f``: results per second of this model (a moving average over about 10 results);
- ``/M/result/latency f``: milliseconds from the frame's arrival to its result;
- ``/M/result/frame i``: the frame id, when it is a whole number (strings are left out);
- ``/M/result/dropped i``: frames this stream dropped so far (latest-wins);
- ``/M/result/found i``: items of the first array output (faces, hands, boxes), when it has one.

Addresses use only letters, digits, ``_`` and ``/``: the characters TouchDesigner keeps in a
channel name (others become ``_``), so the channel is named as the address reads.
"""

from __future__ import annotations

import math
import struct

from ._osc_codec import _is_item_array, message

__all__ = ["BUNDLE_OVERHEAD", "bundles", "result_channels", "found_count", "Rate"]

_HEAD = b"#bundle\0" + struct.pack(">Q", 1)  # time tag 1: "immediately" (OSC 1.0)
BUNDLE_OVERHEAD = len(_HEAD) + 4  # the header, and one element's size field


def bundles(messages: list[bytes], limit: int) -> list[bytes]:
    """`messages` packed, in order, into as few bundles of at most `limit` bytes as they fit."""
    out: list[bytes] = []
    parts: list[bytes] = []
    size = len(_HEAD)
    for m in messages:
        if len(m) + BUNDLE_OVERHEAD > limit:
            raise ValueError(f"an OSC message of {len(m)} bytes does not fit a {limit}-byte bundle")
        if parts and size + 4 + len(m) > limit:
            out.append(b"".join(parts))
            parts, size = [], len(_HEAD)
        if not parts:
            parts.append(_HEAD)
        parts += [struct.pack(">i", len(m)), m]
        size += 4 + len(m)
    if parts:
        out.append(b"".join(parts))
    return out


def found_count(outputs: dict, specs: dict | None) -> int | None:
    """Items in the first array of points, boxes or landmarks (None when the model has none)."""
    for name, value in outputs.items():
        if _is_item_array((specs or {}).get(name)) and isinstance(value, (list, tuple)):
            return len(value)
    return None


class Rate:
    """Results per second of one model: an exponential moving average of the intervals."""

    def __init__(self, alpha: float = 0.1):
        self.alpha, self.last, self.interval = alpha, None, None

    def tick(self, now: float) -> float:
        if self.last is not None and now > self.last:
            dt = now - self.last
            self.interval = dt if self.interval is None else self.interval + self.alpha * (dt - self.interval)
        self.last = now
        return 1.0 / self.interval if self.interval else 0.0


def result_channels(base: str, *, fps: float, latency_ms: float | None, frame, dropped: int,
                    found: int | None) -> list[bytes]:
    """The per-result messages (see the module doc); `base` is ``/M``."""
    out = [message(f"{base}/result/fps", [float(fps)])]
    if latency_ms is not None:
        out.append(message(f"{base}/result/latency", [float(latency_ms)]))
    if isinstance(frame, int) and not isinstance(frame, bool) and -(2**31) <= frame < 2**31:
        out.append(message(f"{base}/result/frame", [frame]))
    elif isinstance(frame, float) and math.isfinite(frame) and frame.is_integer() and abs(frame) < 2**31:
        out.append(message(f"{base}/result/frame", [int(frame)]))
    out.append(message(f"{base}/result/dropped", [int(dropped)]))
    if found is not None:
        out.append(message(f"{base}/result/found", [int(found)]))
    return out
