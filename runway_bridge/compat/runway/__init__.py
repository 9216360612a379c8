"""The old Runway Model SDK's public names, served by runway_bridge.

``runway.setup``, ``runway.command`` and ``runway.run`` register onto (and serve) the model being
loaded, as the old module-level singleton did; ``runway.model.RunwayModel`` makes a model of its
own. Images reach commands as PIL images here (as they did in the old SDK); outputs may be PIL
images or numpy arrays.
"""

from runway_bridge.model import command, setup
from runway_bridge.sdk import run

from . import data_types, exceptions, utils
from .__version__ import __version__
from .data_types import *  # noqa: F403
from .model import RunwayModel
