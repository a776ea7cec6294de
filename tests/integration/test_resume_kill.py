"""A real `mbre discover` subprocess killed with SIGKILL part-way, then resumed: the output equals an
uninterrupted run's, sentence for sentence, and the cache answers the calls asked before the kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from mbre.schemas.instances import Instance
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES, numbered_corpus
from tests.support.fakes import content_free, gold_script, instance_in, is_group_question, text_of
from tests.support.openai_stub import stub_server

SCHEMA = RelationSchema.from_file(EXAMPLES / "relations.json")
N = 40


def corpus(path: Path) -> list[Instance]:
    return numbered_corpus(path, N, "k")


def command(corpus_file: Path, run_dir: Path, base_url: str, cache: Path) -> tuple[list[str], dict]:
    env = {**os.environ, "OPENAI_API_KEY": "sk-kill-test", "MBRE_CACHE_PATH": str(cache)}
    args = [sys.executable, "-m", "mbre", "discover", "--relations", str(EXAMPLES / "relations.json")]
    args += ["--input", str(corpus_file), "--run-dir", str(run_dir), "--model", "openai:stub-model"]
    return [*args, "--base-url", base_url, "--concurrency", "2"], env


def finished(run_dir: Path) -> list[dict]:
    path = run_dir / "samples.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def comparable(sample: dict) -> dict:
    """Everything but the usage counters: a resumed sentence's calls come partly from the cache."""
    decision = {k: v for k, v in sample["decision"].items() if k != "usage"}
    return {**sample, "decision": decision}


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    instances = corpus(tmp_path / "in.jsonl")
    answer = gold_script(SCHEMA, instances)
    # A sentence with a relation, so it has a verification call to be killed in.
    held_id = next(i.id for i in instances[15:] if i.relation != SCHEMA.no_relation_label)
    release = threading.Event()
    first_phase = threading.Event()  # set while the first process runs: then the held sentence hangs
    asked: list[tuple[str, str]] = []

    def script(messages, schema_name):
        if content_free(messages):  # calibration: asked once per run, about no sentence
            return answer(messages, schema_name)
        prompt = text_of(messages)
        instance = instance_in(prompt, instances)
        asked.append((instance.id, prompt))
        if first_phase.is_set() and instance.id == held_id and not is_group_question(messages):
            release.wait(30)  # its extractions are answered, its verification never is: killed in flight
        time.sleep(0.02)
        return answer(messages, schema_name)

    with stub_server(script) as server:
        # The reference: one uninterrupted run with its own cache.
        args, env = command(tmp_path / "in.jsonl", tmp_path / "ref", server.base_url, tmp_path / "ref.sqlite")
        reference = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        assert reference.returncode == 0, reference.stderr
        reference_requests = len(asked)
        asked.clear()

        first_phase.set()
        args, env = command(tmp_path / "in.jsonl", tmp_path / "run", server.base_url, tmp_path / "c.sqlite")
        process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not (len(finished(tmp_path / "run")) >= 20 and any(i == held_id for i, _ in asked)):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run did not get far enough to be killed"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        first_phase.clear()
        release.set()
        before_kill = list(asked)
        done_at_kill = {s["id"] for s in finished(tmp_path / "run")}
        assert held_id not in done_at_kill and len(done_at_kill) < N
        asked.clear()

        resumed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr

    final = finished(tmp_path / "run")
    assert sorted(s["id"] for s in final) == [i.id for i in instances]  # each exactly once, none lost
    expected = {s["id"]: comparable(s) for s in finished(tmp_path / "ref")}
    assert {s["id"]: comparable(s) for s in final} == expected

    # The resumed process asked nothing about finished sentences, and nothing answered before the kill.
    assert not {i for i, _ in asked} & done_at_kill
    held_before = {p for i, p in before_kill if i == held_id}
    held_after = [p for i, p in asked if i == held_id]
    assert len(held_before) >= 2 and held_after  # extractions answered, the verification was in flight
    in_flight = [p for p in held_after if p in held_before]
    assert len(in_flight) == 1  # only the call killed in flight is asked again
    held = next(s for s in final if s["id"] == held_id)
    assert held["decision"]["usage"]["cached_calls"] >= 2  # its extractions came from the cache
    assert "answered from cache" in resumed.stdout
    print(
        f"\nresume: {N} sentences, {len(done_at_kill)} finished at the kill, {len(before_kill)} requests "
        f"before it, {len(asked)} after (the reference run made {reference_requests}), the held sentence's "
        f"{held['decision']['usage']['cached_calls']} earlier calls from the cache"
    )


def test_ctrl_c_finishes_the_sentences_in_flight_and_the_same_command_resumes(tmp_path):
    instances = corpus(tmp_path / "in.jsonl")
    answer = gold_script(SCHEMA, instances)

    def slow(messages, schema_name):
        time.sleep(0.05)
        return answer(messages, schema_name)

    with stub_server(slow) as server:
        args, env = command(tmp_path / "in.jsonl", tmp_path / "run", server.base_url, tmp_path / "c.sqlite")
        process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while len(finished(tmp_path / "run")) < 5:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        assert "interrupted" in " ".join(stdout.split()) and "the same command resumes" in stderr
        lines = (tmp_path / "run" / "samples.jsonl").read_text()
        assert lines.endswith("\n") and 5 <= len(lines.splitlines()) < N  # stopped between whole lines
        requests_at_stop = len(server.requests)

        resumed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(s["id"] for s in finished(tmp_path / "run")) == [i.id for i in instances]
    assert len(server.requests) > requests_at_stop
