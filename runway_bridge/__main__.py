"""``python -m runway_bridge``: the same as the ``runway-bridge`` command."""

from .cli import main

main()
