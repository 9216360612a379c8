"""Loading model files."""

import pytest


def test_a_model_with_a_missing_package_says_what_to_install(tmp_path):
    from runway_bridge.errors import SetupError
    from runway_bridge.model import load_model

    (tmp_path / "model.py").write_text("import not_a_real_package_xyz\n")
    with pytest.raises(SetupError, match="No module named 'not_a_real_package_xyz'; install the packages"):
        load_model(tmp_path)


def test_generator_steps_carry_their_progress_and_the_step_before_a_failure():
    from runway_bridge.errors import InferenceError
    from runway_bridge.model import Model
    from runway_bridge.types import image_point, text

    m = Model()

    @m.command("gen", inputs={}, outputs={"text": text()})
    def gen(model, inputs):
        yield "a", 0.25  # old SDK style: (output, progress), never the pair as a string
        yield {"text": "b"}, 0.5
        raise ValueError("boom")

    @m.command("ret", inputs={}, outputs={"text": text()})
    def ret(model, inputs):
        yield "x"
        return "y"  # a generator's return value is its last step, as in the old SDK

    @m.command("point", inputs={}, outputs={"p": image_point()})
    def point(model, inputs):
        return (0.25, 0.75)  # a pair of numbers is a value, not (output, progress)

    for eager, expect in ((False, [({"text": "a"}, 0.25), ({"text": "b"}, 0.5)]),
                          (True, [({"text": "a"}, 0.25), ({"text": "b"}, 0.5)])):
        got: list = []
        with pytest.raises(InferenceError, match=r"^Error during inference: ValueError\('boom'\)\.$"):
            m.run_command(None, "gen", {}, on_partial=lambda o, p, got=got: got.append((dict(o), p)), eager=eager)
        assert got == expect
    got = []
    assert m.run_command(None, "ret", {}, on_partial=lambda o, p: got.append((dict(o), p))) == {"text": "y"}
    assert got == [({"text": "x"}, 1)]  # no progress given: the step count
    assert m.run_command(None, "point", {}) == {"p": [0.25, 0.75]}


def test_setup_only_files_and_runway_model_files_load(tmp_path):
    from runway_bridge.compat import enable
    from runway_bridge.model import load_model

    enable()
    (tmp_path / "setup_only.py").write_text(
        "import runway\n@runway.setup\ndef setup():\n    return 1\nrunway.run()  # a no-op while loading\n")
    m = load_model(tmp_path / "setup_only.py")
    assert m.commands == {} and m.run_setup({}) == 1
    (tmp_path / "own.py").write_text(
        "from runway.model import RunwayModel\nfrom runway.data_types import text\nrw = RunwayModel()\n"
        "@rw.command('up', inputs={'t': text}, outputs={'t': text})\ndef up(model, inputs):\n"
        "    return inputs['t'].upper()\nrw.run()\n")
    m = load_model(tmp_path / "own.py")
    assert m.run_command(None, "up", {"t": "hi"}) == {"t": "HI"}
    (tmp_path / "empty.py").write_text("x = 1\n")
    with pytest.raises(Exception, match="defines no setup and no commands"):
        load_model(tmp_path / "empty.py")
