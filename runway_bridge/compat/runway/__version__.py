"""The old SDK's version, which old clients read from ``/meta`` as ``modelSDKVersion``."""

__version__ = "0.6.1"
