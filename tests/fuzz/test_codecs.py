"""Property tests of the pure codecs: whatever bytes arrive, the only exception is the documented one.

Deterministic (``derandomize``) and bounded, so CI sees the same few thousand cases every run;
``RUNWAY_BRIDGE_FUZZ_CASES=N`` multiplies the examples per property (docs/fuzzing.md).
"""

from __future__ import annotations

import base64
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc import osc_bundle, osc_message, osc_packet
from pythonosc.parsing import osc_types

from runway_bridge import jsonsafe, types
from runway_bridge.errors import BadInput, InferenceError
from runway_bridge.host import Result
from runway_bridge.transports import _osc_codec as codec
from runway_bridge.transports import _osc_decode
from runway_bridge.types import Blob
from runway_bridge.wire import MAX_HEADER, decode_frame, encode_frame, result_message

SCALE = max(1, int(os.environ.get("RUNWAY_BRIDGE_FUZZ_CASES", "0") or 0) // 1000)
FUZZ = settings(derandomize=True, max_examples=100 * SCALE, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers(-(10**20), 10**20) | finite | st.text(max_size=20)
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                                                               max_size=4), max_leaves=30)
names = st.text(min_size=1, max_size=12)


def nested(depth: int, leaf="0") -> str:
    return "[" * depth + leaf + "]" * depth


# -- jsonsafe -----------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_jsonsafe_loads_raises_only_bad_input(data):
    try:
        jsonsafe.loads(data)
    except BadInput:
        pass


@FUZZ
@given(json_values)
def test_jsonsafe_round_trips_what_it_encodes(value):
    assert jsonsafe.loads(jsonsafe.dumps(value)) == value


@FUZZ
@given(st.integers(jsonsafe.MAX_DEPTH + 1, 50_000), st.sampled_from(["[", '{"a":']))
def test_jsonsafe_refuses_any_depth_over_the_limit_without_recursing(depth, opener):
    closer = "]" if opener == "[" else "}"
    with pytest.raises(BadInput, match="nests deeper"):
        jsonsafe.loads(opener * depth + "0" + closer * depth)
    deep: list = []
    for _ in range(depth):  # the encoder's check is iterative too: no RecursionError at any depth
        deep = [deep]
    with pytest.raises(InferenceError):
        jsonsafe.dumps(deep)


@FUZZ
@given(st.integers(jsonsafe.MAX_INT_DIGITS + 1, 100_000))
def test_jsonsafe_refuses_huge_integers(digits):
    with pytest.raises(BadInput, match="digits"):
        jsonsafe.loads('{"n": ' + "7" * digits + "}")


# -- the binary frame (wire.py) -----------------------------------------------------------------


@st.composite
def parts(draw):
    out = []
    for name in draw(st.lists(names, unique=True, max_size=4)):
        fmt = draw(st.sampled_from(["jpeg", "png", "raw"]))
        if fmt == "raw":
            shape = draw(st.tuples(st.integers(1, 6), st.integers(1, 6), st.sampled_from([1, 3, 4])))
            out.append((name, Blob("raw", draw(st.binary(min_size=math.prod(shape), max_size=math.prod(shape))), shape)))
        else:
            out.append((name, Blob(fmt, draw(st.binary(max_size=64)))))
    return out


@FUZZ
@given(st.one_of(st.none(), st.integers(-(2**53), 2**53), st.text(max_size=40)), st.none() | names,
       st.dictionaries(names, json_values, max_size=4), parts())
def test_frame_round_trips(frame, command, inputs, blobs):
    inputs = {k: v for k, v in inputs.items() if k not in {n for n, _ in blobs}}
    header = {"frame": frame, "command": command, "inputs": inputs}
    got_header, got_inputs = decode_frame(encode_frame(header, blobs))
    assert got_header["frame"] == frame and got_header["command"] == command
    assert got_inputs == {**inputs, **dict(blobs)}


@FUZZ
@given(st.binary(max_size=400))
def test_decode_frame_raises_only_bad_input_on_arbitrary_bytes(data):
    try:
        decode_frame(data)
    except BadInput:
        pass


part_entries = st.fixed_dictionaries({}, optional={"name": json_values | names, "size": json_values | st.integers(-5, 50),
                                                   "format": json_values | st.sampled_from(["jpeg", "png", "raw", "gif"]),
                                                   "shape": json_values | st.lists(st.integers(-2, 4), max_size=4)})


@FUZZ
@given(st.dictionaries(st.sampled_from(["frame", "command", "inputs", "binary"]),
                       json_values | st.lists(part_entries | json_values, max_size=4)), st.binary(max_size=64))
def test_decode_frame_raises_only_bad_input_on_hostile_headers(header, tail):
    head = json.dumps(header).encode()
    try:
        decode_frame(struct.pack(">I", len(head)) + head + tail)
    except BadInput:
        pass


@FUZZ
@given(parts().filter(bool), st.data())
def test_truncated_or_extended_frames_are_bad_input(blobs, data):
    msg = encode_frame({"frame": 1}, blobs)
    cut = data.draw(st.integers(0, len(msg) - 1))
    for bad in (msg[:cut], msg + data.draw(st.binary(min_size=1, max_size=8))):
        if bad[:3] == b"\xff\xd8\xff" or bad[:8] == b"\x89PNG\r\n\x1a\n":
            continue
        with pytest.raises(BadInput):
            decode_frame(bad)


def test_header_length_is_bounded_before_parsing():
    with pytest.raises(BadInput, match="at most"):
        decode_frame(struct.pack(">I", MAX_HEADER + 1) + b"{" + b" " * MAX_HEADER + b"}")


@FUZZ
@given(st.dictionaries(names, json_values, max_size=4), st.integers(0, 300))
def test_result_messages_are_json_or_an_inference_error(outputs, depth):
    value: object = 1
    for _ in range(depth):
        value = [value]
    outputs = {**outputs, "deep": value}
    try:
        text, data = result_message(Result("m", "c", outputs=outputs, frame_id="f"), binary=True)
    except InferenceError:
        assert depth > 100
        return
    assert data is None and json.loads(text)["frame"] == "f"


# -- OSC (_osc_codec.py, and the python-osc parser the daemon feeds datagrams to) -----------------

OSC_PARSE_ERRORS = (osc_packet.ParseError, osc_bundle.ParseError, osc_message.ParseError, osc_types.ParseError,
                    UnicodeDecodeError)
osc_args = st.lists(st.integers(-(2**31), 2**31 - 1) | st.floats(width=32, allow_nan=False)
                    | st.text(alphabet=st.characters(blacklist_characters="\0", codec="utf-8"), max_size=20)
                    | st.binary(max_size=20), max_size=8)


osc_junk = st.binary(max_size=200) | st.builds(bytes.__add__, st.sampled_from([b"/a\0\0,", b"#bundle\0"]),
                                              st.binary(max_size=80))


@FUZZ
@given(osc_junk)
def test_python_osc_parses_arbitrary_datagrams_with_only_parse_errors(data):
    """python-osc (our independent peer below) documents ParseError, four unrelated classes of
    that name; it also lets UnicodeDecodeError out of non-UTF-8 strings."""
    try:
        osc_packet.OscPacket(data)
    except OSC_PARSE_ERRORS:
        pass


@FUZZ
@given(osc_junk | st.builds(lambda n, body: b"#bundle\0" + b"\0" * 8 + struct.pack(">i", n) + body,
                            st.integers(-(2**31), 2**31 - 1), st.binary(max_size=40)))
def test_the_daemon_decodes_arbitrary_datagrams_with_only_value_errors(data):
    """`_osc_decode` is what the daemon feeds every datagram to: `ValueError` with a sentence, only."""
    try:
        _osc_decode.decode_packet(data)
    except ValueError:
        pass


@FUZZ
@given(st.integers(1, 2000))
def test_nested_bundles_are_refused_without_recursing(depth):
    packet = codec.message("/q", [1])
    for _ in range(depth):
        packet = b"#bundle\0" + b"\0" * 8 + struct.pack(">i", len(packet)) + packet
    if depth > _osc_decode.MAX_BUNDLE_DEPTH:
        with pytest.raises(ValueError, match="nest deeper"):
            _osc_decode.decode_packet(packet)
    else:
        assert _osc_decode.decode_packet(packet)[0].args == (1,)


@FUZZ
@given(names.map(lambda n: "/" + codec.address_part(n)), osc_args)
def test_osc_messages_round_trip_through_the_daemons_decoder(address, args):
    (got,) = _osc_decode.decode_packet(codec.message(address, args))
    assert got.address == address and list(got.args) == [bytes(a) if isinstance(a, bytes) else a for a in args]


@FUZZ
@given(names.map(lambda n: "/" + codec.address_part(n)), osc_args)
def test_osc_messages_round_trip_through_python_osc(address, args):
    parsed = osc_message.OscMessage(codec.message(address, args))
    assert parsed.address == address
    assert len(parsed.params) == len(args)
    for sent, got in zip(args, parsed.params, strict=True):
        assert got == sent


@FUZZ
@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), max_size=2000),
       st.integers(128, 1500), names)
def test_float_messages_fit_the_limit_and_reassemble(floats, limit, name):
    arr = np.array(floats, np.float32)  # (width=32: representable)
    address = f"/m/{codec.address_part(name)}"
    dgrams = codec.float_messages(address, arr, limit)
    assert all(len(d) <= limit for d in dgrams)
    msgs = [osc_message.OscMessage(d) for d in dgrams]
    if len(msgs) == 1 and msgs[0].address == address:
        got = msgs[0].params
    else:
        got, offset = [], 0
        for k, m in enumerate(msgs):
            assert m.address == f"{address}/part/{k}" and m.params[0] == offset and m.params[1] == len(arr)
            got += m.params[2:]
            offset += len(m.params) - 2
    assert np.array_equal(np.array(got, np.float32), arr)


@FUZZ
@given(st.dictionaries(names, json_values | st.lists(finite, max_size=300), max_size=6), st.integers(128, 1500))
def test_data_and_error_messages_fit_and_hold_json(outputs, limit):
    with np.errstate(over="ignore"):  # numbers beyond float32 go out as inf
        _data_and_error_messages_fit(outputs, limit)


def _data_and_error_messages_fit(outputs, limit):
    dgram, omitted = codec.data_message("/data", outputs, limit, "m")
    assert len(dgram) <= limit
    body = json.loads(osc_message.OscMessage(dgram).params[0])
    assert set(body) == set(outputs) or body == {}
    err = codec.error_message("/error", "x" * limit * 2, 400, limit)
    assert len(err) <= limit and json.loads(osc_message.OscMessage(err).params[0])["status"] == 400
    for d in codec.result_numbers("m", outputs, None, limit):
        assert len(d) <= limit
        osc_message.OscMessage(d)


# -- images and values from the network (types.py) ----------------------------------------------

CTX = types.DecodeContext(max_pixels=4_000_000)


@FUZZ
@given(st.binary(max_size=300) | st.builds(bytes.__add__, st.sampled_from([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"]),
                                             st.binary(max_size=300)))
def test_image_bytes_are_an_image_or_bad_input(data):
    """JPEG- and PNG-prefixed garbage too: each must be refused from its header, quickly."""
    for value in (data, base64.b64encode(data).decode(), "data:image/png;base64," + base64.b64encode(data).decode(),
                  Blob("jpeg", data)):
        try:
            types.image().deserialize(value, CTX)
        except BadInput:
            pass


@FUZZ
@given(st.text(max_size=200), st.binary(max_size=64), st.lists(st.integers(1, 70), max_size=4))
def test_strings_and_raw_blobs_are_an_image_or_bad_input(text, data, shape):
    for value in (text, "data:" + text, Blob("raw", data, tuple(shape)), Blob("raw", data, None)):
        try:
            types.image(channels=4).deserialize(value, CTX)
        except BadInput:
            pass


@pytest.mark.parametrize("value", [b"", "", "data:image/png;base64,", Blob("png", b"")])
def test_an_empty_image_is_bad_input(value):
    """Found here, not in issue 10: an empty image reached cv2.imdecode, a 500 (fixed on main).
    (An empty *raw* blob still raises cv2.error, but no transport can build one: wire.py refuses
    zero dimensions, and Socket.IO bytes become JPEG/PNG blobs only.)"""
    with pytest.raises(BadInput):
        types.image().deserialize(value, CTX)


_PNG_BOMB = r"""
import time
from runway_bridge import types
from runway_bridge.errors import BadInput
t = time.perf_counter()
try:
    types.image().deserialize(b"\x89PNG\r\n\x1a\n\xb6\x13\xad|j\xb2")
    fate = "decoded"
except BadInput:
    fate = "BadInput"
# VmHWM, not ru_maxrss: the latter keeps the parent's high-water mark across fork and exec
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(fate, time.perf_counter() - t, hwm // 1024)
"""


def test_a_truncated_png_with_a_huge_chunk_length_is_refused_cheaply():
    """Found here, of the class of issue 10 item 3: a 14-byte PNG whose first chunk claims ~3 GB
    made cv2.imdecode allocate ~3 GB and spin 5-12 s (fixed on main: the header is read first)."""
    out = subprocess.run([sys.executable, "-c", _PNG_BOMB], capture_output=True, text=True, timeout=120).stdout.split()
    fate, seconds, peak_mb = out[0], float(out[1]), int(out[2])
    assert fate == "BadInput" and peak_mb < 512 and seconds < 3, out


SCHEMAS = [types.any(), types.text(max_length=10), types.number(min=-5, max=5), types.boolean(),
           types.category(choices=["a", "b"]), types.vector(length=3), types.array(item_type=types.text, max_length=4),
           types.image_point(), types.image_bounding_box(), types.image_landmarks(2), types.segmentation(
               label_to_id={"bg": 0, "fg": 1}), types.image()]


@FUZZ
@given(json_values | st.lists(json_values, max_size=5))
def test_every_type_accepts_or_raises_bad_input_on_any_json(value):
    for t in SCHEMAS:
        try:
            with np.errstate(over="ignore"):  # 1e39 as float32 is inf: refused, with a numpy warning
                t.deserialize(value, CTX)
        except BadInput:
            pass
