"""The machine's registry of shared embedded servers: one entry per `ServerSpec.key`, in
`<cache dir>/servers/`, so every mbre process on the machine finds the one server for its model.

Four files per key, each for one reason:

- ``KEY.lock``: a mutex (an exclusive flock). Whoever reads the entry in order to act on it holds it: a
  user joining or starting the server, the supervisor restarting or stopping it. So no user joins a server
  that is being stopped, and two users never start two.
- ``KEY.json``: the entry (port, pids, model sha256, arguments, log), replaced atomically. People may read
  it too: it says which server serves which model, and where its log is.
- ``KEY.users``: every process that uses the server holds a shared flock on it for as long as it does.
  The kernel drops a flock when its process ends, however it ends (SIGKILL included), so "is anyone still
  using it" is one non-blocking exclusive flock: no list of pids to go stale or be fooled by pid reuse.
- ``KEY.supervisor``: the live supervisor holds an exclusive flock on it, so an entry whose supervisor
  lock is free is stale (its supervisor died) and is replaced.

flock is per open file: a process must not take ``lock`` twice (it would wait for itself).
"""

from __future__ import annotations

import fcntl
import json
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from mbre.files import ensure_dir, write_atomic
from mbre.llm.local.locks import exclusive_lock
from mbre.llm.local.paths import servers_dir


@dataclass(frozen=True)
class Entry:
    """One running shared server, as its supervisor last wrote it."""

    port: int
    pid: int
    """The llama-server process."""
    supervisor: int
    model: str
    model_sha256: str
    args: list[str]
    """llama-server's arguments, but the binary and the port."""
    log: str
    restarts: int = 0
    """How often the supervisor started the server again after it died."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Registry:
    """The files of one key under ``root`` (default: the cache directory's ``servers/``)."""

    def __init__(self, key: str, root: Path | None = None) -> None:
        self.key = key
        self.root = root or servers_dir()

    def _path(self, suffix: str) -> Path:
        return self.root / f"{self.key}.{suffix}"

    def _open(self, suffix: str) -> IO[str]:
        ensure_dir(self.root)
        return self._path(suffix).open("a")

    def locked(self) -> AbstractContextManager[None]:
        """Hold the key's mutex (blocking until it is free)."""
        ensure_dir(self.root)
        return exclusive_lock(self._path("lock"))

    def read(self) -> Entry | None:
        """The entry, or None when there is none (or it cannot be read: then it is replaced)."""
        try:
            return Entry(**json.loads(self._path("json").read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def write(self, entry: Entry) -> None:
        """Replace the entry atomically (a reader sees the old one or the new one, never half)."""
        ensure_dir(self.root)
        write_atomic(self._path("json"), json.dumps(asdict(entry), indent=1) + "\n")

    def remove(self) -> None:
        self._path("json").unlink(missing_ok=True)

    def lease(self) -> IO[str]:
        """Become a user: a shared flock on the users file, held until the returned file is closed or the
        process ends. Take it under `locked`, so a supervisor that is deciding to stop sees it."""
        handle = self._open("users")
        fcntl.flock(handle, fcntl.LOCK_SH)
        return handle

    def in_use(self) -> bool:
        """Whether any process holds a lease."""
        return _held(self._open("users"))

    def supervised(self) -> bool:
        """Whether a live supervisor holds the key."""
        return _held(self._open("supervisor"))

    def claim(self) -> IO[str] | None:
        """Become the key's supervisor: an exclusive flock on the supervisor file, held until the returned
        file is closed or the process ends; None when another live supervisor holds it."""
        handle = self._open("supervisor")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        return handle


def _held(handle: IO[str]) -> bool:
    """Whether another open file holds a flock on this file: try an exclusive one without waiting."""
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
