"""Where the embedded model's files live on this machine: one cache directory for assembled weights, server
logs, the registry of shared servers and the LLM-call cache."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where assembled models and server logs live: $MBRE_CACHE_DIR, $XDG_CACHE_HOME/mbre or ~/.cache/mbre."""
    if explicit := os.environ.get("MBRE_CACHE_DIR"):
        return Path(explicit).expanduser()
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "mbre"
    return Path.home() / ".cache" / "mbre"


def logs_dir() -> Path:
    """The servers' logs (one per supervisor, the newest 20 kept)."""
    return cache_dir() / "logs"


def servers_dir() -> Path:
    """The registry of the servers this machine shares (see `mbre.llm.local.registry`)."""
    return cache_dir() / "servers"
