"""The installed mbre version, recorded in every sample's provenance, manifest and report."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache
def mbre_version() -> str:
    try:
        return version("mbre")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0+unknown"
