"""Packages for the wheel: every runway_bridge package, plus adapters/ and examples/ mapped in.

The rest of the build configuration is in pyproject.toml; only the package list needs code,
because setuptools cannot combine package discovery with mapped folders declaratively.
"""

from setuptools import find_packages, setup

MAPPED = {"runway_bridge._adapters": "adapters", "runway_bridge._examples": "examples"}

setup(
    packages=find_packages(include=["runway_bridge", "runway_bridge.*"]) + list(MAPPED),
    package_dir=MAPPED,
)
