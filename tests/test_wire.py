"""The binary frame codec reads its JSON header with the shared bounded decoder."""

from __future__ import annotations

import json
import struct

import pytest

from runway_bridge.errors import BadInput
from runway_bridge.types import Blob
from runway_bridge.wire import decode_frame, encode_frame


def _frame(header: bytes) -> bytes:
    return struct.pack(">I", len(header)) + header


@pytest.mark.parametrize("header, words", [
    (b"[" * 100 + b"]" * 100, "nests deeper than 64"),
    (b'{"frame": ' + b"9" * 100 + b"}", "more than 64 digits"),
    (b'{"frame": NaN}', "NaN is not valid JSON"),
    (b'{"frame": "\xff"}', "not valid UTF-8"),
    (b"[1, 2]", "must be a JSON object"),
])
def test_hostile_headers_are_bad_input(header, words):
    with pytest.raises(BadInput, match=words):
        decode_frame(_frame(header))


def test_a_frame_round_trips():
    blob = Blob("jpeg", b"\xff\xd8\xff" + b"x" * 100)
    header, inputs = decode_frame(encode_frame({"frame": 7, "inputs": {"k": 1}}, [("image", blob)]))
    assert header["frame"] == 7 and inputs == {"k": 1, "image": blob}


def test_images_nested_in_outputs_become_data_uris_in_text_and_binary_messages():
    from runway_bridge.host import Result
    from runway_bridge.wire import result_message

    blob = Blob("png", b"\x89PNG\r\n\x1a\nxx")
    r = Result("m", "c", outputs={"frames": [blob, blob], "count": 2, "top": blob})
    text, binary = result_message(r, binary=False)
    msg = json.loads(text)
    assert binary is None and msg["outputs"]["frames"] == [blob.to_data_uri()] * 2
    assert msg["outputs"]["top"] == blob.to_data_uri()
    text, binary = result_message(r, binary=True)
    header, parts = decode_frame(binary)
    assert header["outputs"] == {"frames": [blob.to_data_uri()] * 2, "count": 2}
    assert parts["top"].data == blob.data


def test_an_unchecked_result_too_deep_to_send_is_an_inference_error():
    from runway_bridge.errors import InferenceError
    from runway_bridge.host import Result
    from runway_bridge.wire import result_message

    deep = 0
    for _ in range(300):
        deep = [deep]
    with pytest.raises(InferenceError, match="nests deeper"):
        result_message(Result("m", "c", outputs={"x": deep}), binary=False)
