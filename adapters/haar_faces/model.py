"""Haar-cascade face detection (Viola-Jones) with the cascades that ship inside OpenCV 4.x."""

import cv2

from runway_bridge import array, command, image, image_bounding_box, number, setup


@setup(options={"min_neighbors": number(default=5, min=1, max=20, step=1,
                                        description="Higher: fewer, surer faces.")})
def load(opts):
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"could not load {path}; is opencv-python-headless 4.x installed (OpenCV 5 has no Haar files)?")
    return {"cascade": cascade, "min_neighbors": int(opts["min_neighbors"])}


@command("detect", description="Find frontal faces.",
         inputs={"image": image(), "min_size": number(default=0.08, min=0.01, max=1,
                                                      description="Smallest face, as a fraction of the shorter side.")},
         outputs={"boxes": array(image_bounding_box), "count": number()})
def detect(model, inputs):
    img = inputs["image"]
    h, w = img.shape[:2]
    grey = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
    side = max(12, int(min(h, w) * inputs["min_size"]))
    found = model["cascade"].detectMultiScale(grey, 1.1, model["min_neighbors"], minSize=(side, side))
    boxes = [[x / w, y / h, (x + bw) / w, (y + bh) / h] for x, y, bw, bh in found]
    return {"boxes": boxes, "count": len(boxes)}
