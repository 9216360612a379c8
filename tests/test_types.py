"""Every data type: its Runway `to_dict`, its round trip, and each validation error as BadInput."""

import base64
import os

import cv2
import numpy as np
import pytest

from runway_bridge import types as t
from runway_bridge.errors import BadInput, InferenceError, InvalidArgumentError, MissingArgumentError


def named(typ, name="field"):
    typ.name = name
    return typ


def test_to_dict_uses_runway_keys():
    assert named(t.category(choices=["a", "b"]), "c").to_dict() == {
        "name": "c", "type": "category", "description": None, "oneOf": ["a", "b"], "default": "a"}
    assert named(t.vector(length=2, sampling_std=0.5), "z").to_dict() == {
        "name": "z", "type": "vector", "description": None, "length": 2, "samplingMean": 0, "samplingStd": 0.5,
        "default": None}  # as the old manifest said; a request without it gets the mean vector
    assert t.vector(length=2, sampling_mean=0.5).missing().tolist() == [0.5, 0.5]
    assert named(t.image(channels=4, min_width=8), "i").to_dict() == {
        "name": "i", "type": "image", "description": None, "channels": 4, "minWidth": 8, "defaultOutputFormat": "PNG"}
    seg = named(t.segmentation(label_to_id={"bg": 0, "person": 1}, label_to_color={"person": [255, 0, 0]}), "s")
    d = seg.to_dict()
    assert d["labels"] == ["bg", "person"] and d["labelToId"] == {"bg": 0, "person": 1}
    assert d["labelToColor"]["person"] == [255, 0, 0] and d["defaultLabel"] == "bg"
    assert named(t.array(item_type=t.text, max_length=3), "a").to_dict()["itemType"]["name"] == "text_array_item"
    marks = named(t.image_landmarks(2, labels=["l", "r"], connections=[["l", "r"]]), "m").to_dict()
    assert marks == {"name": "m", "type": "image_landmarks", "description": None, "length": 2,
                     "labels": ["l", "r"], "connections": [["l", "r"]]}
    assert named(t.text(max_length=5), "x").to_dict() == {
        "name": "x", "type": "text", "description": None, "default": "", "minLength": 0, "maxLength": 5}
    assert named(t.number(min=0, max=1, step=0.1), "n").to_dict() == {
        "name": "n", "type": "number", "description": None, "default": 0, "min": 0, "max": 1, "step": 0.1}


@pytest.mark.parametrize("typ, value, expect", [
    (t.number(min=0, max=1), 2, "above the maximum 1"),
    (t.number(min=0, max=1), -1, "below the minimum 0"),
    (t.number(), "abc", "expected a number"),
    (t.number(), float("nan"), "finite"),
    (t.text(max_length=3), "toolong", "at most 3"),
    (t.text(min_length=2), "x", "at least 2"),
    (t.text(), 5, "expected a string"),
    (t.category(choices=["a", "b"]), "c", "not one of"),
    (t.vector(length=3), [1, 2], "length 3, got 2"),
    (t.vector(length=3), "abc", "list of 3 numbers"),
    (t.boolean(), "maybe", "true or false"),
    (t.array(item_type=t.number(max=1), max_length=2), [0, 0, 0], "at most 2"),
    (t.array(item_type=t.number(max=1)), [0, 5], "[1]"),
    (t.image_point(), [0.1], "[x, y]"),
    (t.image_bounding_box(), [0.5, 0, 0.1, 1], "xmin must be below xmax"),
    (t.image_landmarks(3), [[0, 0], [1, 1]], "expected 3 points"),
    (t.image(), "data:image/jpeg;base64,AAAA", "not a JPEG or PNG"),
    (t.image(), "data:image/jpeg;base64,%%%", "base64"),
    (t.image(max_width=4), base64.b64encode(cv2.imencode(".png", np.zeros((2, 8, 3), np.uint8))[1]).decode(),
     "width 8 is above the maximum 4"),
    (t.file(), "http://example.com/x", "not fetched"),
])
def test_validation_errors_name_the_field(typ, value, expect):
    typ.name = "field"
    with pytest.raises(BadInput) as e:
        typ.deserialize(value)
    assert e.value.status == 400 and e.value.field == "field"
    assert expect in e.value.message and e.value.message.startswith("Invalid argument: field. ")
    assert isinstance(e.value, InvalidArgumentError)


def test_image_round_trip_and_channel_conversion():
    rgb = np.zeros((6, 5, 3), np.uint8)
    rgb[:, :, 0] = 200
    uri = t.image().serialize(rgb)
    assert uri.startswith("data:image/jpeg;base64,")
    back = t.image().deserialize(uri)
    assert back.shape == (6, 5, 3) and abs(int(back[0, 0, 0]) - 200) < 8
    rgba = np.dstack([rgb, np.full((6, 5), 255, np.uint8)])
    png_uri = t.image(channels=4).serialize(rgba)
    assert png_uri.startswith("data:image/png;base64,")
    assert t.image().deserialize(png_uri).shape == (6, 5, 3)  # RGBA to an RGB model: converted
    transparent = rgba.copy()
    transparent[:, :, 3] = 0
    assert (t.image().deserialize(transparent) == 255).all()  # laid over white
    assert t.image(channels=1).deserialize(rgb).shape == (6, 5)
    blob = t.image().serialize(rgb, "png", binary=True)
    assert isinstance(blob, t.Blob) and blob.format == "png"
    assert (t.image().deserialize(blob) == rgb).all()
    raw = t.image().serialize(rgb, "raw")
    assert raw.shape == (6, 5, 3) and (t.image().deserialize(raw) == rgb).all()


def test_segmentation_round_trip():
    seg = t.segmentation(label_to_id={"bg": 0, "fg": 1}, label_to_color={"bg": [0, 0, 0], "fg": [0, 255, 0]})
    ids = np.array([[0, 1], [1, 0]], np.uint8)
    uri = seg.serialize(ids)
    colours = cv2.cvtColor(cv2.imdecode(np.frombuffer(base64.b64decode(uri.split(",")[1]), np.uint8), 1),
                           cv2.COLOR_BGR2RGB)
    assert colours[0, 1].tolist() == [0, 255, 0]
    assert (seg.deserialize(uri) == ids).all()


def test_vector_arrives_as_numpy_and_geometry_as_floats():
    v = t.vector(length=2).deserialize([1, 2])
    assert isinstance(v, np.ndarray) and v.dtype == np.float32
    assert t.image_landmarks(2).serialize(np.array([[0.1, 0.2, 0.9], [0.3, 0.4, 0.9]])) == [[0.1, 0.2], [0.3, 0.4]]
    assert t.image_point().serialize(np.array([0.5, 0.25])) == [0.5, 0.25]


def test_bad_model_output_is_a_500_not_a_400():
    from runway_bridge.model import Model

    m = Model()

    @m.command("marks", inputs={}, outputs={"marks": t.image_landmarks(3)})
    def marks(model, inputs):
        return [[0, 0]]

    @m.command("img", inputs={}, outputs={"image": t.image()})
    def img(model, inputs):
        return "not an image"

    @m.command("two", inputs={}, outputs={"a": t.number(), "b": t.number()})
    def two(model, inputs):
        return {"a": 1}

    for name, expect in (("marks", "expected 3 points"), ("img", "not an image: expected a PIL or numpy image"),
                         ("two", "no value for its output 'b'")):
        with pytest.raises(InferenceError, match=expect) as e:
            m.run_command(None, name, {})
        assert e.value.status == 500


def test_file_inputs_stay_inside_the_allowed_folder(tmp_path):
    (tmp_path / "ok.txt").write_text("hi")
    ctx = t.DecodeContext(file_root=str(tmp_path))
    f = t.file()
    assert f.deserialize("ok.txt", ctx) == str(tmp_path / "ok.txt")
    assert f.deserialize(str(tmp_path / "ok.txt")) == str(tmp_path / "ok.txt")  # in process: as given
    with pytest.raises(BadInput, match="outside the allowed folder"):
        f.deserialize("../../etc/passwd", ctx)
    with pytest.raises(BadInput, match="outside the allowed folder"):
        f.deserialize("/etc/passwd", ctx)



def test_constructors_raise_the_old_sdks_errors():
    for make in (lambda: t.array(), lambda: t.vector(), lambda: t.category(), lambda: t.category(choices=[]),
                 lambda: t.segmentation()):
        with pytest.raises(MissingArgumentError):
            make()
    for make in (lambda: t.category(choices=["a"], default="b"), lambda: t.vector(length=2, default=[1]),
                 lambda: t.image(channels=2), lambda: t.image(default_output_format="GIF"),
                 lambda: t.segmentation(label_to_id={}), lambda: t.image_landmarks(0),
                 lambda: t.image_landmarks(2, labels=["a", "b"], connections=[["a", "b", "a"]])):
        with pytest.raises(InvalidArgumentError):
            make()
    assert t.image(default_output_format="png").default_output_format == "PNG"


def test_defaults_follow_the_old_rule_and_base_type_is_abstract():
    assert t.number(min=1).default == 1 and t.number(max=5).default == 5 and t.number().default == 0
    assert t.number(default=0, min=-1).default == 0  # ours keeps an explicit 0; runway.number gives -1
    with pytest.raises(NotImplementedError):
        t.BaseType("x").serialize(1)
    with pytest.raises(NotImplementedError):
        t.BaseType("x").deserialize(1)
    seg = t.segmentation(label_to_id={"background": 0, "person": 1}, label_to_color={"background": [0, 0, 0]})
    assert seg.label_to_color["person"] == [140, 59, 255]  # colorcet glasbey_bw[1], the old palette


def test_boolean_is_strict_both_ways():
    b = named(t.boolean(), "flag")
    assert b.deserialize(True) is True and b.deserialize("false") is False and b.deserialize(np.bool_(True)) is True
    for bad in ("True", "1", 1, 0, 1.5, [], {}):
        with pytest.raises(BadInput):
            b.deserialize(bad)
        with pytest.raises(InvalidArgumentError):
            b.serialize(bad)


def test_segmentation_colour_maps_take_the_nearest_label_colour():
    seg = t.segmentation(label_to_id={"bg": 0, "fg": 3}, label_to_color={"bg": [0, 0, 0], "fg": [250, 10, 10]})
    rgb = np.array([[[3, 2, 1], [240, 20, 5]], [[250, 10, 10], [90, 0, 0]]], np.uint8)
    assert seg.deserialize(rgb).tolist() == [[0, 3], [3, 0]]


def _claimed_jpeg(w: int, h: int) -> bytes:
    """A real tiny JPEG whose frame header is rewritten to claim w x h (the ~900-byte bomb)."""
    data = bytearray(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 9] = h.to_bytes(2, "big") + w.to_bytes(2, "big")
    return bytes(data)


def _claimed_png(w: int, h: int) -> bytes:
    data = bytearray(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    data[16:24] = w.to_bytes(4, "big") + h.to_bytes(4, "big")  # IHDR (its CRC is left stale)
    return bytes(data)


@pytest.mark.parametrize("bomb, fmt", [(_claimed_jpeg, "JPEG"), (_claimed_png, "PNG")])
def test_a_small_image_claiming_30000x30000_is_refused_from_its_header(bomb, fmt):
    import time
    import tracemalloc

    data = bomb(30000, 30000)
    assert len(data) < 1200
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    tracemalloc.start()
    started = time.perf_counter()
    for _ in range(20):
        with pytest.raises(BadInput, match=f"the {fmt} header says 30000x30000, over the limit of 40000000 pixels"):
            t.image().deserialize(uri)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 2 and peak < 5_000_000  # nothing near the 2.7 GB bitmap was allocated
    ctx = t.DecodeContext(max_pixels=100)
    with pytest.raises(BadInput, match="over the limit of 100 pixels"):
        t.image().deserialize(base64.b64encode(bomb(11, 10)).decode(), ctx)


def test_only_formats_with_a_readable_header_are_decoded():
    rgb = np.full((4, 6, 3), 100, np.uint8)
    for ext in (".webp", ".bmp"):
        data = cv2.imencode(ext, rgb)[1].tobytes()
        assert t.image().deserialize(base64.b64encode(data).decode()).shape == (4, 6, 3)
    tiff = cv2.imencode(".tiff", rgb)[1].tobytes()
    with pytest.raises(BadInput, match="not a JPEG or PNG"):
        t.image().deserialize(base64.b64encode(tiff).decode())
    assert os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] == str(t.MAX_PIXELS)
