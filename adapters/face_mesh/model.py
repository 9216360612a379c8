"""Face mesh: 478 landmarks per face, irises included (MediaPipe Face Mesh with attention).

Runs ``mp.solutions.face_mesh`` from ``mediapipe==0.10.21`` with ``refine_landmarks=True`` when
mediapipe imports; otherwise (or with ``runtime = "litert"``) the mesh and iris ``.tflite`` files
on LiteRT, which give the same 478 points (docs/mediapipe-lite.md; ``tracking`` is mediapipe-only).
Points are labelled ``p0`` ... ``p477`` in MediaPipe's canonical order, and a few well-known ones
carry a name instead (``nose_tip`` is point 1, ``right_iris`` point 468, ``left_iris`` point 473;
right and left are the subject's own). Connections draw the face oval, eyebrows, eyes, irises and
lips; the full tessellation (2,556 edges) is left out to keep the manifest small.

With ``tracking`` on, each frame starts from the previous frame's faces: faster and steadier for
one live camera stream, wrong for unrelated pictures or several interleaved streams.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from pathlib import Path

import numpy as np

from runway_bridge import (
    array,
    boolean,
    category,
    command,
    image,
    image_bounding_box,
    image_landmarks,
    number,
    run,
    setup,
)


def lite(name: str):
    """``adapters/_mediapipe_lite/<name>.py``, imported by path: ``adapters/`` is no package."""
    if "_mediapipe_lite" not in sys.modules:
        folder = Path(__file__).resolve().parents[1] / "_mediapipe_lite"
        spec = importlib.util.spec_from_file_location("_mediapipe_lite", folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        sys.modules["_mediapipe_lite"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["_mediapipe_lite"])
    return importlib.import_module(f"_mediapipe_lite.{name}")

NUM_POINTS = 478
NAMED = {
    1: "nose_tip", 10: "forehead", 152: "chin",
    33: "right_eye_outer", 133: "right_eye_inner", 263: "left_eye_outer", 362: "left_eye_inner",
    61: "mouth_right", 291: "mouth_left", 13: "upper_lip", 14: "lower_lip",
    234: "right_cheek", 454: "left_cheek", 468: "right_iris", 473: "left_iris",
}
LABELS = [NAMED.get(i, f"p{i}") for i in range(NUM_POINTS)]
CONNECTIONS = [[LABELS[a], LABELS[b]] for a, b in lite("landmarks").FACE_CONTOURS_AND_IRISES]


class MediaPipeFaceMesh:
    def __init__(self, max_faces: int, min_confidence: float, tracking: bool):
        import mediapipe as mp

        self.mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=not tracking, max_num_faces=max_faces, refine_landmarks=True,
            min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence,
        )
        self.lock = threading.Lock()  # a MediaPipe graph runs one frame at a time

    def landmarks(self, rgb: np.ndarray) -> list[np.ndarray]:
        with self.lock:
            result = self.mesh.process(np.ascontiguousarray(rgb[:, :, :3]))
        faces = result.multi_face_landmarks or []
        return [np.array([[p.x, p.y] for p in face.landmark], dtype=np.float64) for face in faces]


def FaceMesh(max_faces: int, min_confidence: float, tracking: bool, runtime: str = "auto"):  # noqa: N802
    """The mesh for ``runtime``; its ``runtime`` attribute says which one was picked."""
    chosen = lite("runtime").choose(runtime)
    if chosen == "mediapipe":
        mesh = MediaPipeFaceMesh(max_faces, min_confidence, tracking)
    else:
        mesh = lite("face").FaceMesh(max_faces, min_confidence)
    mesh.runtime = chosen
    return mesh


@setup(options={
    "max_faces": number(default=1, min=1, max=4, step=1, description="At most this many faces."),
    "min_confidence": number(default=0.5, min=0.05, max=1.0, step=0.05,
                             description="Detection (and tracking) confidence threshold."),
    "tracking": boolean(default=False, description="Follow faces from frame to frame (one live stream; mediapipe runtime only)."),
    "runtime": category(choices=["auto", "mediapipe", "litert"], default="auto",
                        description="auto: mediapipe if it imports, else the same model files on LiteRT."),
})
def setup_model(opts):
    return FaceMesh(int(opts["max_faces"]), opts["min_confidence"], opts["tracking"], opts["runtime"])


@command("detect", inputs={"image": image()},
         outputs={"landmarks": array(image_landmarks(NUM_POINTS, labels=LABELS, connections=CONNECTIONS)),
                  "boxes": array(image_bounding_box)},
         description="478 landmarks per face (with irises) and the box around them.")
def detect(model: FaceMesh, inputs):
    faces = model.landmarks(inputs["image"])
    boxes = []
    for pts in faces:
        lo, hi = np.clip(pts.min(axis=0), 0.0, 1.0), np.clip(pts.max(axis=0), 0.0, 1.0)
        boxes.append([float(lo[0]), float(lo[1]), float(max(hi[0], lo[0] + 1e-6)), float(max(hi[1], lo[1] + 1e-6))])
    return {"landmarks": faces, "boxes": boxes}


if __name__ == "__main__":
    run()
