"""The codec fast paths (simplejpeg, pybase64, spliced data URIs) give what the plain paths gave."""

import base64
import json

import cv2
import numpy as np
import pytest

from runway_bridge import _codec, jsonsafe, wire
from runway_bridge import types as t
from runway_bridge.types import Blob


def photo(w=640, h=480):
    """Smooth gradients plus an edge: a JPEG-friendly picture with real content."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // w, y * 255 // h, ((x + y) * 127 // (w + h)) + 64 * (x > w // 2)], -1)
    return img.astype(np.uint8)


def cv_jpeg(rgb, quality=80):
    return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


@pytest.fixture
def plain(monkeypatch):
    """The fallbacks: what a machine without simplejpeg and pybase64 runs."""
    monkeypatch.setattr(_codec, "simplejpeg", None)
    monkeypatch.setattr(_codec, "pybase64", None)


def test_the_fast_paths_are_installed():
    assert _codec.simplejpeg is not None and _codec.pybase64 is not None


@pytest.mark.parametrize("fallback", [False, True])
def test_jpeg_decodes_to_rgb_and_encodes_from_it(fallback, monkeypatch):
    if fallback:
        monkeypatch.setattr(_codec, "simplejpeg", None)
    rgb = photo()
    got = _codec.jpeg_decode(cv_jpeg(rgb))
    ref = cv2.cvtColor(cv2.imdecode(np.frombuffer(cv_jpeg(rgb), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert got.shape == (480, 640, 3) and got.dtype == np.uint8
    assert np.abs(got.astype(int) - ref).mean() < 1.0  # libjpeg-turbo either way; IDCT rounding may differ
    out = _codec.jpeg_encode(got, 80)
    assert out[:3] == b"\xff\xd8\xff"
    back = cv2.cvtColor(cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.abs(back.astype(int) - rgb).mean() < 3.0  # the colours are RGB, not swapped


def test_grey_and_cmyk_jpegs_decode_as_before():
    grey = cv2.imencode(".jpg", photo()[:, :, 0])[1].tobytes()
    assert _codec.jpeg_decode(grey).shape == (480, 640)
    assert t.decode_image_bytes(grey).shape == (480, 640)
    assert _codec.jpeg_decode(_codec.jpeg_encode(photo()[:, :, 1], 80)).shape == (480, 640)
    # A truncated JPEG: libjpeg-turbo's strict mode refuses it and OpenCV decodes what is there, as before.
    cut = cv_jpeg(photo())[:20000]
    assert t.decode_image_bytes(cut).shape == (480, 640, 3)
    assert t.decode_image_bytes(b"\xff\xd8\xff\xe0 not a jpeg") is None


def test_dct_scaled_decode_only_when_the_input_declares_a_smaller_size():
    uri = "data:image/jpeg;base64," + base64.b64encode(cv_jpeg(photo())).decode()
    small = t.image(width=160, height=120).deserialize(uri)
    full = cv2.resize(t.image().deserialize(uri), (160, 120), interpolation=cv2.INTER_AREA)
    assert small.shape == (120, 160, 3)
    assert np.abs(small.astype(int) - full).mean() < 2.0
    assert t.decode_image_bytes(cv_jpeg(photo()), min_size=(160, 120)).shape == (120, 160, 3)
    h, w = t.decode_image_bytes(cv_jpeg(photo()), min_size=(200, 130)).shape[:2]
    assert 200 <= w < 640 and 130 <= h < 480  # libjpeg-turbo scales by n/8, never below the size asked
    # With bounds, the frame itself is judged: a 640-wide frame is over max_width=600 however it decodes.
    with pytest.raises(Exception, match="above the maximum"):
        t.image(width=160, height=120, max_width=600).deserialize(uri)


@pytest.mark.parametrize("fallback", [False, True])
def test_base64_is_strict_and_data_uris_are_unchanged(fallback, request):
    if fallback:
        request.getfixturevalue("plain")
    data = bytes(range(256)) * 50
    b64 = base64.b64encode(data).decode()
    assert _codec.b64encode(data) == b64 and _codec.b64encode_bytes(data) == b64.encode()
    assert _codec.b64decode(b64) == data
    for bad in ("YWJj\n", "YW j", "YW*j"):
        with pytest.raises(ValueError):
            _codec.b64decode(bad)
    assert t.decode_base64("YWJ") == b"ab"  # missing padding is still tolerated, as before
    assert t.decode_base64("data:image/png;base64,-_8=") == base64.urlsafe_b64decode("-_8=")
    assert Blob("jpeg", data).to_data_uri() == "data:image/jpeg;base64," + b64
    assert Blob("png", data).to_data_uri_bytes() == b"data:image/png;base64," + b64.encode()


def test_outputs_json_is_byte_for_byte_what_the_json_encoder_wrote():
    img = Blob("jpeg", cv_jpeg(photo()))
    cases = [{"image": img, "label": "é\"\n", "n": [1, 2.5, None, {"a": True}], "mask": Blob("png", b"\x89PNG")},
             {}, {"x": 1}, {"image": img}, {"nested": {"image": img}}, [img], {1: img}]
    for value in cases:
        assert wire.outputs_json(value) == jsonsafe.dumps(wire.outputs_to_json(value)).encode()
    body = json.loads(wire.outputs_json({"image": img}))
    assert body["image"].startswith("data:image/jpeg;base64,")
    assert base64.b64decode(body["image"].split(",", 1)[1]) == img.data


def test_outputs_json_keeps_the_depth_bound():
    deep = {"image": Blob("jpeg", b"\xff\xd8\xff")}
    for _ in range(jsonsafe.MAX_DEPTH):
        deep = {"inner": deep, "image": Blob("jpeg", b"\xff\xd8\xff")}
    with pytest.raises(Exception, match="nests deeper than 64"):
        wire.outputs_json(deep)
    with pytest.raises(Exception, match="cannot put a raw image"):
        wire.outputs_json({"image": Blob("raw", b"\0" * 3, (1, 1, 3))})


def test_libjpegs_own_reading_of_the_header_backs_up_the_pixel_limit():
    jpg = cv_jpeg(photo())
    with pytest.raises(t.PixelLimit, match="640x480, over the limit of 1000 pixels"):
        _codec.jpeg_decode(jpg, max_pixels=1000)
    with pytest.raises(t.PixelLimit):  # the header check before it says so first, in its words
        t.decode_image_bytes(jpg, max_pixels=1000)
    assert _codec.jpeg_decode(jpg, max_pixels=640 * 480).shape == (480, 640, 3)
