"""`mbre discover` processes and the machine's one embedded server, for real: the 0.5B model, llama-server
on loopback, and a cache directory (registry, logs) of each test's own. Two processes share one server; a
SIGTERM leaves no server behind and the same command resumes; a server killed mid-run is started again and
every sentence is still labelled exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mbre.llm.local.registry import Entry
from mbre.schemas.instances import read_instances
from tests.support.data import EXAMPLES
from tests.support.models import private_cache
from tests.support.processes import alive, wait_until

pytestmark = pytest.mark.llm


def corpus(path: Path, first: int, count: int) -> list[str]:
    """`count` distinct sentences (the examples, each with a numbered tail that leaves the spans alone)."""
    base = read_instances(EXAMPLES / "sentences.jsonl")
    instances = [
        base[i % len(base)].model_copy(
            update={"id": f"k{i:03d}", "text": base[i % len(base)].text + f" ({i})"}
        )
        for i in range(first, first + count)
    ]
    path.write_text("".join(i.model_dump_json() + "\n" for i in instances))
    return [i.id for i in instances]


def discover(corpus_file: Path, run_dir: Path, cache: Path) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "MBRE_CACHE_DIR": str(cache), "MBRE_CACHE_PATH": str(cache / "llm-cache.sqlite")}
    args = [sys.executable, "-m", "mbre", "discover", "--relations", str(EXAMPLES / "relations.json")]
    args += ["--input", str(corpus_file), "--run-dir", str(run_dir), "--model", "local:qwen2.5-coder-0.5b"]
    return [*args, "--concurrency", "2"], env


def labelled(run_dir: Path) -> list[str]:
    """The ids in the run's samples, in file order, duplicates kept."""
    path = run_dir / "samples.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["id"] for line in path.read_text().splitlines() if line.endswith("}")]


def entry(cache: Path) -> Entry | None:
    """The one registry entry of the cache directory, if a server runs."""
    found = list((cache / "servers").glob("*.json"))
    return Entry(**json.loads(found[0].read_text())) if found else None


def lease_holders(cache: Path) -> set[int]:
    """Pids holding a lease on the cache's server (shared flocks on its users file, from /proc/locks)."""
    inodes = {path.stat().st_ino for path in (cache / "servers").glob("*.users")}
    holders = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if fields[1] == "FLOCK" and fields[3] == "READ" and int(fields[5].split(":")[2]) in inodes:
            holders.add(int(fields[4]))
    return holders


def server_log(cache: Path) -> str:
    logs = list((cache / "logs").glob("llama-server-*.log"))
    assert len(logs) == 1, logs  # one supervisor, hence one log, for the whole test
    return logs[0].read_text()


def wait_for_samples(process: subprocess.Popen[str], run_dir: Path, count: int) -> None:
    deadline = time.monotonic() + 600
    while len(labelled(run_dir)) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run did not get far enough"
        time.sleep(0.2)


def test_two_discover_processes_share_one_server(tmp_path, model_files):
    cache = private_cache(tmp_path / "cache", model_files)
    ids_a, ids_b = corpus(tmp_path / "a.jsonl", 0, 4), corpus(tmp_path / "b.jsonl", 4, 4)
    processes = []
    for name in ("a", "b"):
        args, env = discover(tmp_path / f"{name}.jsonl", tmp_path / name, cache)
        processes.append(
            subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    holders: set[int] = set()
    while any(process.poll() is None for process in processes):
        if (cache / "servers").exists():
            holders |= lease_holders(cache)
        time.sleep(0.2)
    for process in processes:
        assert process.wait() == 0, process.communicate()
    assert {process.pid for process in processes} <= holders  # both held a lease on the one server
    assert sorted(labelled(tmp_path / "a")) == ids_a and sorted(labelled(tmp_path / "b")) == ids_b
    assert server_log(cache).count("is healthy on port") == 1  # started once, for both
    assert wait_until(lambda: entry(cache) is None, 20)  # and stopped after the last one left


def test_sigterm_mid_run_leaves_no_server_and_the_same_command_resumes(tmp_path, model_files):
    cache = private_cache(tmp_path / "cache", model_files)
    ids = corpus(tmp_path / "in.jsonl", 0, 6)
    args, env = discover(tmp_path / "in.jsonl", tmp_path / "run", cache)
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_samples(process, tmp_path / "run", 2)
    running = entry(cache)
    assert running is not None and alive(running.pid)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert process.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM)
    assert wait_until(lambda: not alive(running.pid) and not alive(running.supervisor), 20)
    assert entry(cache) is None
    assert len(labelled(tmp_path / "run")) < len(ids)

    resumed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    final = labelled(tmp_path / "run")
    assert sorted(final) == sorted(ids) and len(final) == len(set(final))  # each exactly once


def test_a_server_killed_mid_run_is_started_again_and_every_sentence_is_labelled_once(tmp_path, model_files):
    cache = private_cache(tmp_path / "cache", model_files)
    ids = corpus(tmp_path / "in.jsonl", 0, 6)
    args, env = discover(tmp_path / "in.jsonl", tmp_path / "run", cache)
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_samples(process, tmp_path / "run", 2)
    killed = entry(cache)
    assert killed is not None
    os.kill(killed.pid, signal.SIGKILL)  # with calls in flight: two sentences at a time, several calls each
    _, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr  # no sentence failed
    final = labelled(tmp_path / "run")
    assert sorted(final) == sorted(ids) and len(final) == len(set(final))
    assert (
        not (tmp_path / "run" / "failures.jsonl").exists()
        or not (tmp_path / "run" / "failures.jsonl").read_text()
    )
    log = server_log(cache)
    assert "exited with code -9: starting it again" in log and log.count("is healthy on port") == 2


def test_a_double_ctrl_c_exits_within_5_seconds_and_the_shared_server_keeps_serving(tmp_path, model_files):
    cache = private_cache(tmp_path / "cache", model_files)
    corpus(tmp_path / "a.jsonl", 0, 8)
    ids_b = corpus(tmp_path / "b.jsonl", 8, 3)
    args_a, env = discover(tmp_path / "a.jsonl", tmp_path / "a", cache)
    args_b, _ = discover(tmp_path / "b.jsonl", tmp_path / "b", cache)
    first = subprocess.Popen(args_a, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_samples(first, tmp_path / "a", 1)
    second = subprocess.Popen(args_b, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_until(lambda: second.pid in lease_holders(cache), 120), "the second process never joined"
    first.send_signal(signal.SIGINT)
    time.sleep(0.5)
    first.send_signal(signal.SIGINT)  # again, with calls in flight: exit now
    again = time.monotonic()
    _, stderr = first.communicate(timeout=60)
    assert time.monotonic() - again <= 5, stderr
    assert first.returncode in (-signal.SIGINT, 128 + signal.SIGINT), stderr
    assert len(labelled(tmp_path / "a")) < 8
    _, stderr = second.communicate(timeout=900)
    assert second.returncode == 0, stderr  # the one server went on serving the other process
    assert sorted(labelled(tmp_path / "b")) == ids_b
    assert server_log(cache).count("is healthy on port") == 1
    assert wait_until(lambda: entry(cache) is None, 20)  # and stopped after the last one left
