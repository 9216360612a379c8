"""``runway.model.RunwayModel``: one model's registry with the old SDK's ``run()``.

It is a `runway_bridge.model.Model`; the Flask app of the old class (``.app``) does not exist, the
model is served by runway_bridge's own server (``runway-bridge run`` finds a `RunwayModel` made at
module level when the file registers nothing on ``runway.setup``/``runway.command``).
"""

from runway_bridge.model import Model

__all__ = ["RunwayModel"]


class RunwayModel(Model):
    """A model of its own: ``rw = RunwayModel()``, ``@rw.setup``, ``@rw.command(...)``, ``rw.run()``."""

    def run(self, host=None, port=None, model_options=None, debug=None, meta=None, no_serve=None):
        from runway_bridge.sdk import run_model

        run_model(self, host, port, model_options, debug, meta, no_serve)
