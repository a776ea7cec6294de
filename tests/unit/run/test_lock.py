"""One process at a time in a run directory: the second is refused at once with the holder's pid, the same
process may take the lock again, and a killed holder never blocks a resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from mbre.errors import StorageError
from mbre.run.lock import LOCK_NAME, RunDirBusy, hold
from tests.support.lock_holder import start_holder


def test_a_second_process_is_refused_at_once_naming_the_holder(tmp_path):
    holder = start_holder(tmp_path / "run")
    try:
        started = time.monotonic()
        with pytest.raises(RunDirBusy) as info, hold(tmp_path / "run"):
            pass
        assert time.monotonic() - started < 2
        assert str(info.value) == (
            f"{tmp_path / 'run'} is in use by another mbre process (pid {holder.pid}): wait for it to "
            f"finish, or stop it (kill {holder.pid}), or choose another run directory"
        )
    finally:
        holder.kill()
        holder.wait()


def test_a_holder_killed_with_sigkill_leaves_no_lock_behind(tmp_path):
    holder = start_holder(tmp_path / "run")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (tmp_path / "run" / LOCK_NAME).read_text() == f"{holder.pid}\n"  # a stale pid, no lock
    with hold(tmp_path / "run"):
        assert (tmp_path / "run" / LOCK_NAME).read_text() == f"{os.getpid()}\n"


def held_elsewhere(run_dir) -> bool:
    """Whether another process is refused the run directory."""
    code = "import sys\nfrom mbre.run.lock import hold\nwith hold(sys.argv[1]): pass"
    return subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True).returncode != 0


def test_the_holding_process_may_take_its_lock_again_and_keeps_it_until_the_last_hold(tmp_path):
    with hold(tmp_path / "a", tmp_path / "b"):
        with hold(tmp_path / "a"):
            pass
        assert held_elsewhere(tmp_path / "a") and held_elsewhere(tmp_path / "b")
    assert not held_elsewhere(tmp_path / "a")


def test_a_run_directory_that_is_a_file_is_named(tmp_path):
    (tmp_path / "run").write_text("")
    with pytest.raises(StorageError, match="is a file, not a directory"), hold(tmp_path / "run"):
        pass
