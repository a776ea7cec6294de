"""One process at a time in a run directory: an OS file lock (`flock`) on its `run.lock`.

Two processes writing one run directory would label every sentence twice and mix their settings, so the
second one is refused at once, with the holder's pid. The kernel releases the lock when its holder dies,
however it dies (SIGKILL included), so a killed run never blocks its own resume; the pid left in the file
is only a hint for the message. The lock's descriptor is not inherited by child processes (the embedded
server's supervisor, which outlives mbre while other processes use the server), so it cannot outlive mbre.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from mbre.errors import MbreError, StorageError
from mbre.files import ensure_dir

LOCK_NAME = "run.lock"
#: How long a refused process waits for the holder to write its pid (it does so just after locking).
_PID_WAIT_SECONDS = 0.5


class RunDirBusy(MbreError):
    """Another process is writing the run directory."""


_held: dict[Path, tuple[int, int]] = {}  # run directory -> (descriptor, holds by this process)
_held_lock = threading.Lock()


@contextmanager
def hold(*run_dirs: str | Path) -> Iterator[None]:
    """Hold the lock of every run directory (creating it) for the block, or refuse with `RunDirBusy`.
    Re-entrant within a process: the command line takes the locks before its models start, and
    `discover` takes its own again."""
    with ExitStack() as stack:
        for run_dir in run_dirs:
            stack.enter_context(_hold_one(Path(run_dir)))
        yield


@contextmanager
def _hold_one(run_dir: Path) -> Iterator[None]:
    key = ensure_dir(run_dir).resolve()
    with _held_lock:
        fd, count = _held.get(key) or (_acquire(key), 0)
        _held[key] = (fd, count + 1)
    try:
        yield
    finally:
        with _held_lock:
            fd, count = _held.pop(key)
            if count > 1:
                _held[key] = (fd, count - 1)
            else:
                os.close(fd)  # closing the descriptor releases the lock


def _acquire(run_dir: Path) -> int:
    path = run_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StorageError.cannot_write(path, exc) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        who = f"another mbre process (pid {holder})" if holder else "another mbre process"
        stop = f", or stop it (kill {holder})" if holder else ""
        raise RunDirBusy(
            f"{run_dir} is in use by {who}: wait for it to finish{stop}, or choose another run directory"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as exc:
        os.close(fd)
        raise StorageError.cannot_write(path, exc) from exc
    return fd


def _holder(fd: int) -> int | None:
    """The pid the holder wrote into the lock file, waiting briefly if it has only just locked it."""
    deadline = time.monotonic() + _PID_WAIT_SECONDS
    while True:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return int(text)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)
