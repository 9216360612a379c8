"""Cartoon: edge-preserving smoothing plus bold edges, with OpenCV. No weights; fast on any CPU."""

import cv2
import numpy as np

from runway_bridge import category, command, image, number, setup


@setup(options={"levels": number(default=8, min=2, max=32, step=1, description="Colour levels per channel.")})
def load(opts):
    return {"levels": int(opts["levels"])}


@command("cartoonize", description="Flatten colours and draw dark outlines.",
         inputs={"image": image(), "edges": category(choices=["bold", "thin", "none"], default="bold")},
         outputs={"image": image()})
def cartoonize(model, inputs):
    img = inputs["image"]
    smooth = cv2.bilateralFilter(img, 7, 60, 60)
    step = 256 // model["levels"]
    flat = (smooth // step * step + step // 2).astype(np.uint8)
    if inputs["edges"] == "none":
        return flat
    grey = cv2.medianBlur(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), 5)
    block = 9 if inputs["edges"] == "bold" else 5
    edges = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, 5)
    return cv2.bitwise_and(flat, flat, mask=edges)
