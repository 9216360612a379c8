"""Loading model files."""

import pytest


def test_a_model_with_a_missing_package_says_what_to_install(tmp_path):
    from runway_bridge.errors import SetupError
    from runway_bridge.model import load_model

    (tmp_path / "model.py").write_text("import not_a_real_package_xyz\n")
    with pytest.raises(SetupError, match="No module named 'not_a_real_package_xyz'; install the packages"):
        load_model(tmp_path)
