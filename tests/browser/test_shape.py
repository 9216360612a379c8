"""runway-bridge.js result shaping (ml5.js style), run in Node: no browser needed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")


def test_results_are_shaped_like_ml5():
    out = json.loads(subprocess.run(["node", str(Path(__file__).with_name("shape_check.cjs"))], check=True,
                                    capture_output=True, text=True, timeout=30).stdout)
    item = out["pose"]["item"]
    assert item["keypoints"] == [{"x": 320, "y": 120, "confidence": 0.9, "name": "nose"},
                                 {"x": 320, "y": 360, "confidence": 0.2, "name": "chin"}]
    assert item["nose"] == item["keypoints"][0]  # named shortcut
    assert item["box"] == {"x": 320, "y": 120, "width": 0, "height": 240, "xMin": 320, "yMin": 120,
                           "xMax": 320, "yMax": 360}
    assert out["pose"]["detected"] is True and out["pose"]["raw"]["landmarks"][0][0] == [0.5, 0.25]
    assert out["flipped"] == [75, 25]

    a, b = out["boxes"]["items"]
    assert a["box"] == {"x": 20, "y": 20, "width": 40, "height": 40, "xMin": 20, "yMin": 20, "xMax": 60, "yMax": 60}
    assert (a["x"], a["width"], a["confidence"], a["score"], a["text"]) == (20, 40, 0.9, 0.9, "a")
    assert b["confidence"] == 0.4 and b["text"] == "b"
    assert out["boxes"]["count"] == 2
    assert out["empty"] == 0
    assert out["connections"] == [[0, 1]]
