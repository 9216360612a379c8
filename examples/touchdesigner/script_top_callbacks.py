"""Script TOP callbacks: show the latest image output that websocket_dat_callbacks.py stored.

JPEG and PNG go through the Script TOP's own decoder (``loadByteArray``); raw pixels
(``?format=raw`` on the WebSocket URL: no codec at all) through ``copyNumpyArray``, flipped
because TouchDesigner's textures start at the bottom row.
"""

import numpy as np

EXTENSIONS = {"jpeg": ".jpg", "png": ".png"}


def td_array(part):
    """A raw part (row 0 at the top) as the array copyNumpyArray wants: uint8, bottom row first."""
    arr = np.frombuffer(part["bytes"], dtype=np.uint8).reshape(part["shape"])
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr[::-1])


def onSetupParameters(scriptOp):
    return


def onPulse(par):
    return


def onCook(scriptOp):
    part = scriptOp.fetch("runway_image", None, search=False)
    if part is None:
        return
    if part["format"] == "raw":
        scriptOp.copyNumpyArray(td_array(part))
    else:
        scriptOp.loadByteArray(EXTENSIONS[part["format"]], part["bytes"])
    return
