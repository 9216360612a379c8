"""Save every result of a render or a live stream, with frame numbers and timestamps, for a patch.

``.jsonl``: one JSON object a line, ``{"frame", "time", "outputs"}``; ``.csv``: one row a result with
columns ``frame, time`` and one column per output holding its value as JSON (numbers stay plain), so
TouchDesigner's Table DAT or a spreadsheet reads it. Pictures are left out (render them to video);
``time`` is the frame's timestamp in the video for a render and seconds since the recording started
for a live stream.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from pathlib import Path

from .types import Blob

__all__ = ["Recorder", "record_results"]

log = logging.getLogger(__name__)


def _plain(value):
    """JSON-ready: numpy values to Python, pictures dropped (None), non-finite floats to null."""
    if isinstance(value, Blob) or (isinstance(value, str) and value.startswith("data:image/")):
        return None
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Recorder:
    """Appends results to a ``.jsonl`` or ``.csv`` file, one line each, flushed as they come."""

    def __init__(self, path: str | Path, outputs: list[str] | None = None):
        self.path = Path(path)
        self.kind = self.path.suffix.lower().lstrip(".")
        if self.kind not in ("jsonl", "csv"):
            raise ValueError(f"--record writes .jsonl or .csv files, not {self.path.name!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w", newline="", encoding="utf-8")
        self._csv = None
        self._columns = outputs
        self.count = 0

    def write(self, frame: int | None, time: float | None, outputs: dict) -> None:
        data = {k: v for k, v in ((k, _plain(v)) for k, v in outputs.items()) if v is not None}
        t = None if time is None else round(float(time), 6)
        if self.kind == "jsonl":
            self._file.write(json.dumps({"frame": frame, "time": t, "outputs": data}, separators=(",", ":")) + "\n")
        else:
            if self._csv is None:
                self._columns = self._columns or list(data)
                self._csv = csv.writer(self._file)
                self._csv.writerow(["frame", "time", *self._columns])
            cells = [data.get(c) for c in self._columns]
            self._csv.writerow([frame, t, *(v if isinstance(v, (int, float)) or v is None
                                            else json.dumps(v, separators=(",", ":")) for v in cells)])
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        self._file.close()


def record_results(bridge, files: dict[str, str]) -> list[Recorder]:
    """Record every result of the named models of a running daemon (``serve --record ID=FILE``)."""
    recorders = {model_id: Recorder(path) for model_id, path in files.items()}
    start = time.monotonic()

    def attach(host) -> None:
        rec = recorders.get(host.id)
        if rec is None:
            return

        def on_result(result) -> None:
            if result.error is not None or not result.final or result.outputs is None:
                return
            frame = result.frame_id if isinstance(result.frame_id, (int, float, str)) else None
            try:
                rec.write(frame, time.monotonic() - start, result.outputs)
            except (OSError, ValueError, TypeError) as e:
                log.warning("cannot record a result of %s to %s: %s", host.id, rec.path, e)

        host.subscribe(on_result)

    bridge.listeners.append(attach)
    for host in list(bridge.hosts.values()):
        attach(host)
    return list(recorders.values())
