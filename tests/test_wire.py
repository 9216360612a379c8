"""The binary frame codec reads its JSON header with the shared bounded decoder."""

from __future__ import annotations

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
