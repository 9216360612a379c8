"""The old Runway Model SDK's public names, served by runway_bridge.

Images reach commands as PIL images here (as they did in the old SDK); outputs may be PIL images
or numpy arrays.
"""

from runway_bridge.model import command, setup
from runway_bridge.sdk import run

from . import data_types, exceptions
from .data_types import *  # noqa: F403

__version__ = "0.6.1"
