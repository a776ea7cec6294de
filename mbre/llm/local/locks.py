"""A blocking exclusive flock on a file by its path, for the embedded model's processes: those assembling
its weights and those sharing its server. The kernel drops a flock when its process ends, however it ends,
so a killed holder never leaves the lock held."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created if missing; its folder must exist) for the block, waiting
    until it is free. flock is per open file: a process that takes it twice waits for itself."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
