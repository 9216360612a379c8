"""The ocr adapter on real printed text: skimage's page() and OpenCV's rotated text sample."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from runway_bridge.model import load_model

ADAPTER = Path(__file__).resolve().parents[2] / "adapters" / "ocr" / "model.py"
ROTATED_TEXT = Path("/usr/share/doc/opencv-doc/examples/data/imageTextR.png")  # Debian opencv-doc


@pytest.fixture(scope="module")
def model():
    m = load_model(ADAPTER)
    return m, m.run_setup({})


def call(model, name, **inputs):
    return model[0].call(model[1], name, inputs)


@pytest.fixture(scope="module")
def page():
    return data.page()  # 191x384 grey scan of a scikit-image tutorial


@pytest.fixture(scope="module")
def page_read(model, page):
    return call(model, "read", image=page)


def test_reads_the_words_on_the_page(page_read):
    lines = page_read["texts"]
    assert len(lines) >= 4
    assert lines[0].replace(" ", "") == "Region-basedsegmentation"
    assert "Let us first determine markers of the coins and the" in lines
    assert "markers" in page_read["text"] and "background" in page_read["text"]
    assert page_read["text"] == "\n".join(lines)


def test_boxes_scores_and_texts_line_up(page_read):
    boxes, scores = np.array(page_read["boxes"]), page_read["scores"]
    assert len(boxes) == len(scores) == len(page_read["texts"])
    assert all(0.5 <= s <= 1 for s in scores)
    assert ((boxes >= 0) & (boxes <= 1)).all()
    assert (boxes[:, 0] < boxes[:, 2]).all() and (boxes[:, 1] < boxes[:, 3]).all()
    assert (np.diff(boxes[:, 1]) > 0).all()  # top to bottom
    # the title sits in the top-left fifth of the page, left of the long lines' right edge
    x0, y0, x1, y1 = boxes[0]
    assert x0 < 0.05 and y0 < 0.1 and y1 < 0.2 and 0.6 < x1 < 0.85
    assert boxes[1][2] > 0.95  # a full-width line


def test_detect_finds_the_same_lines_without_reading(model, page, page_read):
    boxes = call(model, "detect", image=page)["boxes"]
    assert len(boxes) >= len(page_read["boxes"])
    first = np.array(boxes[0])
    assert np.abs(first - np.array(page_read["boxes"][0])).max() < 0.02


def test_min_score_drops_unsure_lines(model, page, page_read):
    strict = call(model, "read", image=page, min_score=0.99)
    assert len(strict["texts"]) < len(page_read["texts"])
    assert all(s >= 0.99 for s in strict["scores"])


def test_no_text_gives_empty_results(model):
    blank = np.full((120, 200, 3), 255, np.uint8)
    assert call(model, "read", image=blank) == {"boxes": [], "texts": [], "scores": [], "text": ""}
    assert call(model, "detect", image=blank) == {"boxes": []}


@pytest.mark.skipif(not ROTATED_TEXT.exists(), reason="Debian opencv-doc is not installed")
def test_slanted_lines_get_axis_aligned_boxes(model):
    rgb = cv2.cvtColor(cv2.imread(str(ROTATED_TEXT)), cv2.COLOR_BGR2RGB)
    out = call(model, "read", image=rgb)
    assert "computer vision problems" in out["text"]
    assert "real-world images" in out["text"]
    boxes = np.array(out["boxes"])
    assert len(boxes) >= 10
    assert ((boxes >= 0) & (boxes <= 1)).all()
    assert (boxes[:, 3] - boxes[:, 1]).mean() > 0.08  # slanted lines make tall boxes


def test_rgba_input_over_the_wire_is_converted(model, page):
    m, state = model
    rgba = cv2.cvtColor(page, cv2.COLOR_GRAY2BGRA)
    _, png = cv2.imencode(".png", rgba)
    uri = "data:image/png;base64," + base64.b64encode(png.tobytes()).decode()
    out = m.run_command(state, "read", {"image": uri})
    assert "markers" in out["text"]
    assert len(out["boxes"]) == len(out["texts"]) and len(out["boxes"][0]) == 4
