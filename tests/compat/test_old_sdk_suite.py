"""The old Runway SDK's own tests (test_data_types.py, test_exceptions.py) pass against `import runway`.

scripts/old_sdk_tests.py runs them from ../shared/runway-model-sdk in a temporary copy; see its
docstring for the two Python 3.9 fixes it applies and the two download tests it deselects.
"""

import re
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from old_sdk_tests import find_sdk  # noqa: E402


def test_the_old_sdk_data_type_and_exception_tests_pass():
    if find_sdk() is None:
        pytest.skip("the old SDK is not at ../shared/runway-model-sdk (set RUNWAY_MODEL_SDK)")
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "old_sdk_tests.py")], capture_output=True,
                         text=True, timeout=240, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    summary = re.search(r"(\d+) passed, (\d+) deselected", out.stdout)
    assert summary, out.stdout[-2000:]
    assert int(summary.group(1)) >= 100 and summary.group(2) == "2"  # 109 tests in the two files
    assert "failed" not in out.stdout.splitlines()[-1]
