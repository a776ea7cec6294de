"""The fault suite, as a user meets faults: real `mbre discover` processes against the loopback stub server.
Two processes on one run directory, SIGTERM and SIGHUP mid-run, a second signal while calls hang, a damaged
LLM-call cache, a full disk and a read-only run directory: each ends in one line that says what happened,
with an exit status a script can read, and nothing written is ever lost or half written.

The full disk is a small tmpfs and the read-only directory a read-only bind mount where this process may
mount (root); elsewhere a full disk is simulated by an `os.write` that fails with ENOSPC, and a read-only
directory by file permissions."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mbre.schemas.instances import Instance
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES, numbered_corpus
from tests.support.fakes import gold_script
from tests.support.openai_stub import stub_server

SCHEMA = RelationSchema.from_file(EXAMPLES / "relations.json")
N = 40
#: Runs `mbre` with an `os.write` that fails with ENOSPC once $MBRE_TEST_DISK_BYTES bytes were written to
#: files under $MBRE_TEST_DISK: a full disk, where no tmpfs can be mounted.
FULL_DISK = """
import errno, os, runpy, sys
root, room = os.environ["MBRE_TEST_DISK"], [int(os.environ["MBRE_TEST_DISK_BYTES"])]
real_write = os.write
def write(fd, data):
    if os.readlink(f"/proc/self/fd/{fd}").startswith(root):
        if len(data) > room[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        room[0] -= len(data)
    return real_write(fd, data)
os.write = write
sys.argv = ["mbre", *sys.argv[1:]]
runpy.run_module("mbre", run_name="__main__")
"""


def corpus(path: Path) -> list[Instance]:
    return numbered_corpus(path, N, "t")


def mbre_args(tmp_path: Path, run_dir: Path, base_url: str, *extra: str) -> list[str]:
    args = [
        "discover",
        "--relations",
        str(EXAMPLES / "relations.json"),
        "--input",
        str(tmp_path / "in.jsonl"),
    ]
    return [*args, "--run-dir", str(run_dir), "--model", "openai:stub-model", "--base-url", base_url, *extra]


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    cache = str(tmp_path / "cache.sqlite")
    return {**os.environ, "OPENAI_API_KEY": "sk-fault-suite", "MBRE_CACHE_PATH": cache, **extra}


def start(args: list[str], env: dict[str, str], launcher: list[str] | None = None) -> subprocess.Popen[str]:
    command = [*(launcher or [sys.executable, "-m", "mbre"]), *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(
    args: list[str], env: dict[str, str], launcher: list[str] | None = None
) -> subprocess.CompletedProcess:
    process = start(args, env, launcher)
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def ids(run_dir: Path) -> list[str]:
    path = run_dir / "samples.jsonl"
    return [json.loads(line)["id"] for line in path.read_text().splitlines()] if path.exists() else []


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def wait_for(condition, process: subprocess.Popen[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run did not get there in time"
        time.sleep(0.05)


def test_two_processes_on_one_run_directory_one_runs_and_the_others_are_refused_naming_it(tmp_path):
    instances = corpus(tmp_path / "in.jsonl")
    answer, release = gold_script(SCHEMA, instances), threading.Event()

    def held(messages, schema_name):
        release.wait(120)  # the winner holds the directory until the others were refused
        return answer(messages, schema_name)

    with stub_server(held) as server:
        args, env = mbre_args(tmp_path, tmp_path / "run", server.base_url), environment(tmp_path)
        first, second = start(args, env), start(args, env)  # started together: exactly one runs
        deadline = time.monotonic() + 120
        while first.poll() is None and second.poll() is None:
            assert time.monotonic() < deadline, "neither process was refused"
            time.sleep(0.05)
        winner, loser = (second, first) if first.poll() is not None else (first, second)
        refusals = [loser.communicate(timeout=60)[1]]
        for extra in (["--fresh"], ["--retry-failed"]):
            started = time.monotonic()
            refused = run([*args, *extra], env)
            assert refused.returncode == 2, refused.stderr
            assert time.monotonic() - started < 60  # at once: it waits for nothing but its own start
            refusals.append(refused.stderr)
        assert winner.poll() is None and loser.returncode == 2
        release.set()
        _, stderr = winner.communicate(timeout=300)

    assert winner.returncode == 0, stderr
    for refusal in refusals:
        assert error_lines(refusal) == [
            f"error: {tmp_path / 'run'} is in use by another mbre process (pid {winner.pid}): wait for it to "
            f"finish, or stop it (kill {winner.pid}), or choose another run directory"
        ]
    assert sorted(ids(tmp_path / "run")) == [i.id for i in instances]  # each once: nothing asked twice
    assert not list((tmp_path / "run").glob("previous-*"))  # the refused --fresh moved nothing


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_like_ctrl_c_and_the_same_command_resumes(tmp_path, stop):
    instances = corpus(tmp_path / "in.jsonl")
    answer = gold_script(SCHEMA, instances)

    def slow(messages, schema_name):
        time.sleep(0.05)
        return answer(messages, schema_name)

    with stub_server(slow) as server:
        args, env = (
            mbre_args(tmp_path, tmp_path / "run", server.base_url, "--concurrency", "2"),
            environment(tmp_path),
        )
        process = start(args, env)
        wait_for(lambda: len(ids(tmp_path / "run")) >= 5, process)
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 128 + stop, stderr
        name = signal.Signals(stop).name
        assert f"stopping: {name}: finishing the sentences in flight" in stderr
        assert f"interrupted ({name}): the same command resumes" in stderr
        lines = (tmp_path / "run" / "samples.jsonl").read_text()
        assert lines.endswith("\n") and 5 <= len(lines.splitlines()) < N  # stopped between whole lines
        resumed = run(args, env)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(ids(tmp_path / "run")) == [i.id for i in instances]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_exits_within_two_seconds_while_calls_hang(tmp_path, stop):
    instances = corpus(tmp_path / "in.jsonl")
    answer = gold_script(SCHEMA, instances)

    def hang(messages, schema_name):  # every call in flight waits far longer than the test allows
        time.sleep(60)
        return answer(messages, schema_name)

    with stub_server(hang) as server:
        process = start(mbre_args(tmp_path, tmp_path / "run", server.base_url), environment(tmp_path))
        wait_for(lambda: len(server.requests) >= 4, process)
        process.send_signal(stop)
        time.sleep(1.0)
        assert process.poll() is None  # the first signal waits for the calls in flight
        process.send_signal(stop)
        second = time.monotonic()
        _, stderr = process.communicate(timeout=30)
        took = time.monotonic() - second
    assert process.returncode == 128 + stop, stderr
    assert took < 2.0, f"the second signal took {took:.1f} s"
    assert f"{signal.Signals(stop).name} again: exiting now" in stderr


def test_a_damaged_cache_is_one_line_before_any_call_and_no_cache_runs(tmp_path):
    instances = corpus(tmp_path / "in.jsonl")
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"SQLite format 2\x00" + b"\x17" * 8000)
    with stub_server(gold_script(SCHEMA, instances)) as server:
        args, env = mbre_args(tmp_path, tmp_path / "run", server.base_url), environment(tmp_path)
        damaged = run(args, env)
        assert not server.requests and not ids(tmp_path / "run")
        without = run([*args, "--no-cache"], env)
    assert damaged.returncode == 1
    assert error_lines(damaged.stderr) == [
        f"error: the LLM-call cache {cache} is damaged (file is not a database): move it aside (mv {cache} "
        f"{cache}.damaged) to start a new one, or run with --no-cache"
    ]
    assert without.returncode == 0, without.stderr
    assert sorted(ids(tmp_path / "run")) == [i.id for i in instances]


@contextlib.contextmanager
def mounted(*commands: list[str], target: Path) -> Iterator[bool]:
    """Run the mount commands; yield whether they worked (root), and unmount after."""
    worked = os.geteuid() == 0 and all(
        subprocess.run(c, capture_output=True).returncode == 0 for c in commands
    )
    try:
        yield worked
    finally:
        if worked:
            subprocess.run(["umount", str(target)], capture_output=True)


def test_a_full_disk_is_one_line_naming_the_file_and_nothing_is_half_written(tmp_path):
    instances = corpus(tmp_path / "in.jsonl")
    disk = tmp_path / "disk"
    disk.mkdir()
    with (
        stub_server(gold_script(SCHEMA, instances)) as server,
        mounted(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(disk)], target=disk) as tmpfs,
    ):
        run_dir = disk / "run"
        args = mbre_args(tmp_path, run_dir, server.base_url)

        def launch(room: int) -> subprocess.CompletedProcess:
            if tmpfs:
                return run(args, environment(tmp_path))
            env = environment(tmp_path, MBRE_TEST_DISK=str(disk), MBRE_TEST_DISK_BYTES=str(room))
            return run(args, env, [sys.executable, "-c", FULL_DISK])

        # Full before anything is written: nothing half written, nothing in the way of the next run.
        filler = disk / "filler"
        if tmpfs:
            with contextlib.suppress(OSError), filler.open("wb") as handle:
                handle.write(b"\0" * 1_000_000)
        before = launch(0)
        assert before.returncode == 1, before.stderr
        (line,) = error_lines(before.stderr)
        assert line.startswith(f"error: cannot write {run_dir}") and line.endswith("No space left on device")
        assert not (run_dir / "manifest.json").exists() and not server.requests
        filler.unlink(missing_ok=True)

        # Full in the middle of the run: it stops at once, every line it wrote is whole.
        middle = launch(30_000)
        assert middle.returncode == 1, middle.stderr
        assert error_lines(middle.stderr) == [
            f"error: cannot write {run_dir / 'samples.jsonl'}: No space left on device"
        ]
        done = ids(run_dir)  # each line parses: none half written
        assert 0 < len(done) < N and len(set(done)) == len(done)
        json.loads((run_dir / "manifest.json").read_text())

        if tmpfs:
            subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        resumed = launch(10_000_000)
        assert resumed.returncode == 0, resumed.stderr
        assert sorted(ids(run_dir)) == [i.id for i in instances]  # the tmpfs is gone after this block


def test_a_read_only_run_directory_or_cache_fails_before_any_call(tmp_path):
    instances = corpus(tmp_path / "in.jsonl")
    answer = gold_script(SCHEMA, instances)
    store = tmp_path / "store"
    with stub_server(answer) as server:
        args, env = mbre_args(tmp_path, store / "run", server.base_url, "--limit", "3"), environment(tmp_path)
        assert run(args, env).returncode == 0  # a finished run, then the disk turns read-only
        shutil.copy(tmp_path / "cache.sqlite", store / "cache.sqlite")
        asked = len(server.requests)
        bind = ["mount", "--bind", str(store), str(store)]
        remount = ["mount", "-o", "remount,bind,ro", str(store)]
        with mounted(bind, remount, target=store) as read_only:
            if not read_only:
                for path in [store, *store.rglob("*")]:
                    path.chmod(0o555 if path.is_dir() else 0o444)
            on_run = run([*mbre_args(tmp_path, store / "run", server.base_url)], env)
            on_cache = run(
                mbre_args(tmp_path, tmp_path / "run", server.base_url),
                environment(tmp_path, MBRE_CACHE_PATH=str(store / "cache.sqlite")),
            )
            if not read_only:
                for path in [store, *store.rglob("*")]:
                    path.chmod(0o755 if path.is_dir() else 0o644)
        assert len(server.requests) == asked  # no call from either
    reason = "Read-only file system" if read_only else "Permission denied"
    assert on_run.returncode == 1, on_run.stderr
    assert error_lines(on_run.stderr) == [f"error: cannot write {store / 'run' / 'run.lock'}: {reason}"]
    assert on_cache.returncode == 1, on_cache.stderr
    (line,) = error_lines(on_cache.stderr)
    assert line.startswith(f"error: cannot write the LLM-call cache {store / 'cache.sqlite'} (")
    assert line.endswith("): run with --no-cache, or set cache_path to a file that can be written")
