"""The embedded server as one mbre process uses it: join the machine's server for a model (starting its
supervisor when there is none), hold a lease on it while the process lives, and find it again when it
restarts.

One server per model and server arguments serves every mbre process on the machine (see
`mbre.llm.local.registry` for the files, `mbre.llm.local.supervisor` for the process that owns the
server): two runs side by side share the CPU's cores through one server's slots instead of two servers
fighting over them, and the model is loaded once. Nothing here stops the server: the supervisor does,
once no process holds a lease, and the kernel releases a process's lease however it ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from mbre.errors import SettingError
from mbre.llm.local.models import DEFAULT_LOCAL_MODEL, LocalModelError
from mbre.llm.local.registry import Entry, Registry
from mbre.llm.local.server import CTX_PER_SLOT, DEFAULT_SLOTS, ServerSpec, is_healthy, new_log, tail

#: Seconds without a request before the supervisor stops a server that still has users; the next call
#: starts it again. `MBRE_LOCAL_IDLE_SECONDS` overrides it (read by the process that starts the server).
IDLE_SECONDS = 900.0
#: How long a user waits for a server to be healthy (loading a model on a busy machine takes a while).
STARTUP_SECONDS = 180.0
#: The directory holding the `mbre` package, so the supervisor imports this very mbre.
_SOURCE_ROOT = Path(__file__).resolve().parents[3]


def idle_seconds() -> float:
    """The idle timeout: `MBRE_LOCAL_IDLE_SECONDS` if set, else `IDLE_SECONDS`."""
    raw = os.environ.get("MBRE_LOCAL_IDLE_SECONDS", "")
    if not raw:
        return IDLE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise SettingError(f"MBRE_LOCAL_IDLE_SECONDS={raw!r}: give a number of seconds above 0")
    return value


class SharedServer:
    """This process's use of the machine's server for one `ServerSpec`."""

    def __init__(
        self, spec: ServerSpec, *, registry: Registry | None = None, startup_seconds: float = STARTUP_SECONDS
    ) -> None:
        self.spec = spec
        self.registry = registry or Registry(spec.key)
        self.startup_seconds = startup_seconds
        self._entry: Entry | None = None
        self._lease: IO[str] | None = None
        self._lock = threading.Lock()  # one join or recovery at a time in this process
        self._started: list[subprocess.Popen[bytes]] = []

    @property
    def entry(self) -> Entry:
        """The server as last found (joining it on first use)."""
        entry = self._entry
        if entry is None:
            with self._lock:
                entry = self._entry = self._entry or self._find()
        return entry

    @property
    def url(self) -> str:
        return self.entry.url

    @property
    def base_url(self) -> str:
        """OpenAI-compatible base URL, for ``ChatOpenAI(base_url=...)``; the port may change when the
        server restarts, which `mbre.llm.local.transport` follows."""
        return f"{self.url}/v1"

    @property
    def pid(self) -> int:
        return self.entry.pid

    def recover(self, failed: Entry) -> Entry:
        """The server after a request to ``failed`` could not connect or lost its answer: the one the
        supervisor restarted, or a new one when the supervisor is gone (it stopped when idle, or died).
        Blocks until it is healthy; raises `LocalModelError` when it cannot be had."""
        with self._lock:
            if self._entry is not None and self._entry != failed:
                return self._entry  # another thread of this process found it already
            self._entry = self._find()
            return self._entry

    def release(self) -> None:
        """Stop using the server: the supervisor stops it if no other process uses it."""
        with self._lock:
            if self._lease is not None:
                self._lease.close()
            self._lease, self._entry = None, None

    def _find(self) -> Entry:
        """Join the registered server when it is healthy; start a supervisor when there is none; wait
        while the live supervisor restarts it."""
        self._started = [process for process in self._started if process.poll() is None]  # reap
        deadline = time.monotonic() + self.startup_seconds
        while True:
            with self.registry.locked():
                if self._lease is None:  # under the lock: a supervisor deciding to stop sees it
                    self._lease = self.registry.lease()
                if not self.registry.supervised():
                    return self._start()
                entry = self.registry.read()
                if entry is not None and is_healthy(entry.url, timeout=5.0):
                    return entry
            if time.monotonic() > deadline:
                where = f"; log {entry.log}:\n{tail(entry.log)}" if entry is not None else ""
                raise LocalModelError(
                    f"the embedded server for {self.spec.model} was not healthy after "
                    f"{self.startup_seconds:.0f}s{where}"
                )
            time.sleep(0.25)

    def _start(self) -> Entry:
        """Start a supervisor (the caller holds the registry lock) and wait for the entry it writes."""
        log = new_log(self.spec.model)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(_SOURCE_ROOT), os.environ.get("PYTHONPATH")])),
        }
        command = [sys.executable, "-m", "mbre.llm.local.supervisor", "--registry", str(self.registry.root)]
        command += ["--spec", self.spec.to_json(), "--log", str(log), "--idle", str(idle_seconds())]
        with log.open("ab") as out:
            process = subprocess.Popen(
                command,
                env=env,
                cwd=self.registry.root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own session: a Ctrl-C at the terminal does not reach it
            )
        self._started.append(process)
        deadline = time.monotonic() + self.startup_seconds + 30  # the supervisor's own timeout comes first
        while True:
            entry = self.registry.read()
            if entry is not None and entry.supervisor == process.pid:
                return entry
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                lines = tail(log).splitlines()
                reason = lines[-1] if lines else "no output"
                raise LocalModelError(
                    f"the embedded server for {self.spec.model} did not start ({reason}); log {log}:\n"
                    + "\n".join(lines)
                )
            time.sleep(0.1)


_servers: dict[tuple[str, int, int], SharedServer] = {}
_servers_lock = threading.Lock()


def local_server(
    model: str = DEFAULT_LOCAL_MODEL, *, slots: int = DEFAULT_SLOTS, ctx_per_slot: int = CTX_PER_SLOT
) -> SharedServer:
    """This process's handle on the machine's server for these arguments, joined on first use."""
    key = (model, slots, ctx_per_slot)
    with _servers_lock:
        server = _servers.get(key)
        if server is None:
            server = SharedServer(ServerSpec.resolve(model, slots=slots, ctx_per_slot=ctx_per_slot))
            _servers[key] = server
    server.entry  # noqa: B018 - join now, so a server that cannot start fails before the first sentence
    return server
