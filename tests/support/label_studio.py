"""A real Label Studio server on loopback for the review round trip: its own data directory, a free port, a
user whose legacy API token is set at start, and every outward call off (usage analytics, Sentry error
reports, the PyPI version check).

Label Studio pins openai<2, which langchain-openai cannot use, so it lives in its own venv
(`.venv-labelstudio`, made by `make install`); MBRE_LABEL_STUDIO names another `label-studio` executable.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.data import ROOT

EXECUTABLE = Path(os.environ.get("MBRE_LABEL_STUDIO", ROOT / ".venv-labelstudio" / "bin" / "label-studio"))
#: Environment switches that keep Label Studio from calling out.
OFFLINE = {
    "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
    "SENTRY_DSN": "",
    "FRONTEND_SENTRY_DSN": "",
    "LATEST_VERSION_CHECK": "false",
    "FEATURE_FLAGS_OFFLINE": "true",
}


@dataclass(frozen=True)
class LabelStudioServer:
    url: str
    token: str
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def label_studio(data_dir: Path, *, start_timeout: float = 420.0) -> Iterator[LabelStudioServer]:
    """Start Label Studio (its first start migrates a fresh SQLite database: a minute or two), wait for its
    health check, and stop it on exit."""
    assert EXECUTABLE.exists(), f"{EXECUTABLE} is missing: `make install` creates .venv-labelstudio"
    port, token = free_port(), "mbre-test-token-0123456789"
    env = {
        **{k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")},
        **OFFLINE,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "HOME": str(data_dir),
    }
    command = [
        str(EXECUTABLE),
        "start",
        "--no-browser",
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--username",
        "reviewer@example.com",
        "--password",
        "mbre-test-password",
        "--user-token",
        token,
        "--enable-legacy-api-token",
    ]
    log = data_dir / "label-studio.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while not _healthy(url):
            if process.poll() is not None:
                raise RuntimeError(
                    f"Label Studio exited with {process.returncode}: {log.read_text()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Label Studio did not answer in {start_timeout} s: {log.read_text()[-2000:]}"
                )
            time.sleep(1)
        yield LabelStudioServer(url=url, token=token, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
