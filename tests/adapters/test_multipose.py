"""Multi-person pose (MoveNet MultiPose) on real footage: people counted, ids stable over vtest.avi.

Frame 0 of opencv-doc's vtest.avi shows three walking pedestrians (centres near x 0.35, 0.67, 0.86
of the frame); more enter from the right later. An id must follow one person: between two frames
in which it appears, its box centre may move only a little (people walk ~0.005 of the frame per
frame here), so a swap between people metres apart fails the test.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from runway_bridge.errors import BadInput
from runway_bridge.model import load_model

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "adapters" / "multipose" / "model.py"
DATA = Path("/usr/share/doc/opencv-doc/examples/data")


def fresh():
    m = load_model(ADAPTER)
    return m, m.run_setup({})


@pytest.fixture(scope="module")
def model():
    return fresh()


@pytest.fixture(scope="module")
def frames():
    if not (DATA / "vtest.avi").exists():
        pytest.skip("Debian opencv-doc is not installed")
    cap = cv2.VideoCapture(str(DATA / "vtest.avi"))
    out = []
    while len(out) < 30:
        ok, frame = cap.read()
        assert ok, "vtest.avi ended early"
        out.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return out


def detect(model, img, **inputs):
    return model[0].call(model[1], "detect", {"image": img, **inputs})


def centre(box):
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def test_three_pedestrians_on_the_first_vtest_frame(model, frames):
    model[0].call(model[1], "reset", {})
    out = detect(model, frames[0])
    assert len(out["ids"]) == 3, out["scores"]
    xs = sorted(centre(b)[0] for b in out["boxes"])
    assert np.allclose(xs, [0.35, 0.67, 0.86], atol=0.05), xs
    assert sorted(out["ids"]) == [1, 2, 3]
    kp = np.asarray(out["keypoints"])
    assert kp.shape == (3, 17, 2)
    for box, points, scores in zip(out["boxes"], kp, out["keypoint_scores"], strict=True):
        good = points[np.asarray(scores) > 0.3]
        assert len(good) >= 5  # a small, distant person still gets most joints
        assert np.all((good[:, 0] > box[0] - 0.02) & (good[:, 0] < box[2] + 0.02))


def test_ids_follow_the_same_people_over_30_frames(frames):
    m = fresh()
    seen: dict[int, list[tuple[int, np.ndarray]]] = {}
    for f, frame in enumerate(frames):
        out = detect(m, frame)
        assert len(set(out["ids"])) == len(out["ids"])  # no id twice in one frame
        for i, box in zip(out["ids"], out["boxes"], strict=True):
            seen.setdefault(i, []).append((f, centre(box)))
    first = [1, 2, 3]
    for i in first:
        assert len(seen[i]) >= 15, {k: len(v) for k, v in seen.items()}  # found in half the frames or more
    for i, track in seen.items():
        for (f0, c0), (f1, c1) in zip(track[:-1], track[1:], strict=True):
            assert np.linalg.norm(c1 - c0) < 0.02 * (f1 - f0) + 0.03, (i, f0, f1, c0, c1)
    assert len(seen) <= 6, sorted(seen)  # three walkers plus the few who enter: no id churn


def test_one_player_on_messi5(model):
    if not (DATA / "messi5.jpg").exists():
        pytest.skip("Debian opencv-doc is not installed")
    messi = cv2.cvtColor(cv2.imread(str(DATA / "messi5.jpg")), cv2.COLOR_BGR2RGB)
    out = detect(model, messi, min_score=0.4)
    assert len(out["ids"]) == 1, out["scores"]
    nose = out["keypoints"][0][0]
    box = out["boxes"][0]
    assert box[0] < nose[0] < box[2] and nose[1] < box[1] + 0.35 * (box[3] - box[1])  # head at the top
    ankles = np.asarray(out["keypoints"][0][15:17])
    assert ankles[:, 1].max() > 0.7  # his feet are near the bottom of the photo


def test_reset_restarts_the_ids(model, frames):
    detect(model, frames[0])
    model[0].call(model[1], "reset", {})
    assert sorted(detect(model, frames[0])["ids"]) == [1, 2, 3]


def test_tracker_keeps_ids_through_a_short_gap_and_never_reuses_them(model):
    tracker = type(model[1].tracker)(max_age=2)
    a, b = np.array([[0.1, 0.1, 0.2, 0.4]]), np.array([[0.6, 0.1, 0.7, 0.4]])
    assert tracker.update(np.vstack([a, b])) == [1, 2]
    assert tracker.update(b + 0.01) == [2]  # a missed for a frame
    assert tracker.update(np.vstack([b + 0.02, a])) == [2, 1]  # a is back: the same id
    for _ in range(3):
        tracker.update(b)  # a gone for longer than max_age
    assert tracker.update(np.vstack([b, a])) == [2, 3]  # a new id; 1 is never reused
    assert tracker.update(np.zeros((0, 4))) == []


@pytest.mark.parametrize("inputs", [{"min_score": 0}, {"min_score": 2}])
def test_out_of_range_inputs_are_refused(model, inputs):
    with pytest.raises(BadInput):
        model[0].run_command(model[1], "detect", {"image": np.zeros((8, 8, 3), np.uint8), **inputs})
