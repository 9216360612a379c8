"""Run model files written for the old Runway Model SDK unmodified.

The folder beside this file holds a package named ``runway``. It is importable only when asked
for: ``runway-bridge run model.py`` (and ``python -m runway_bridge.compat model.py``) put it on
``sys.path``; to use it anywhere else, ``export PYTHONPATH=$(runway-bridge compat-path)``.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["enable", "compat_path"]


def compat_path() -> str:
    return str(Path(__file__).resolve().parent)


def enable() -> None:
    """Make ``import runway`` resolve to the compatibility package."""
    path = compat_path()
    if path not in sys.path:
        sys.path.insert(0, path)
