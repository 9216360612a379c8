"""The shared bounded JSON decoder: hostile JSON is a 400, never a RecursionError or a stall."""

import pytest

from runway_bridge import jsonsafe
from runway_bridge.errors import BadInput, InferenceError


def test_plain_json_parses():
    assert jsonsafe.loads(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}


@pytest.mark.parametrize("depth", [65, 600, 100_000])
def test_deep_nesting_is_bad_input(depth):
    with pytest.raises(BadInput, match="nests deeper"):
        jsonsafe.loads("[" * depth + "]" * depth)


def test_huge_integer_is_bad_input():
    with pytest.raises(BadInput, match="digits"):
        jsonsafe.loads("1" * 5000)


@pytest.mark.parametrize("text", [b"\xff\xfe", b"{", b"NaN", b'{"a": Infinity}', b""])
def test_malformed_is_bad_input(text):
    with pytest.raises(BadInput):
        jsonsafe.loads(text)


def test_deep_output_is_inference_error():
    value: list = []
    for _ in range(600):
        value = [value]
    with pytest.raises(InferenceError):
        jsonsafe.dumps(value)
    assert jsonsafe.dumps({"a": [1]}) == '{"a":[1]}'
