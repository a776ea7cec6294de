"""Processes from a test: running `mbre` as a user does, whether a pid still runs, and waiting for a
condition."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (dead, not yet reaped by its parent) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll `condition` until it holds (True) or `seconds` pass (False)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def run_mbre(*args: str, cache: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`python -m mbre ARGS` from the repository root as a user runs it, without the test environment's
    OpenAI key, and with the LLM-call cache at `cache` so every answer is the model's own."""
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["MBRE_CACHE_PATH"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "mbre", *args],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
