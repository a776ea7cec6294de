"""`--budget` against the loopback stub: every call is reserved before it is sent, so many sentences in
flight cannot overrun it, and the billed line counts every billed call, the calibration questions too."""

from __future__ import annotations

import re
import threading

from typer.testing import CliRunner

from mbre.cli.app import app
from mbre.graph.context import MbreContext
from mbre.inventory.inventory import Inventory
from mbre.run.budget import Budget
from mbre.run.discover import discover
from mbre.run.rundir import RunDir
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES, numbered_corpus
from tests.support.fakes import content_free, gold_script
from tests.support.openai_stub import stub_server

SCHEMA = RelationSchema.from_file(EXAMPLES / "relations.json")
BUDGET = 5000


def test_at_concurrency_64_the_billed_tokens_stay_within_the_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-budget-test")
    instances = numbered_corpus(tmp_path / "in.jsonl", 200, "b")
    answer = gold_script(SCHEMA, instances)
    completions: list[int] = []
    lock = threading.Lock()

    def script(messages, schema_name):
        reply = answer(messages, schema_name)
        with lock:
            completions.append(len(reply))  # the stub bills one completion token a character
        return reply

    with stub_server(script) as server:
        args = [
            "discover",
            "--relations",
            str(EXAMPLES / "relations.json"),
            "--input",
            str(tmp_path / "in.jsonl"),
        ]
        args += [
            "--run-dir",
            str(tmp_path / "run"),
            "--model",
            "openai:stub-model",
            "--base-url",
            server.base_url,
        ]
        result = CliRunner().invoke(app, [*args, "--concurrency", "64", "--budget", str(BUDGET)])
    assert result.exit_code == 3, result.output  # stopped at the budget
    billed = 50 * len(server.requests) + sum(completions)  # what the stub's usage said, every request
    assert 0.5 * BUDGET < billed <= 1.1 * BUDGET
    shown = re.search(
        r"tokens billed \(not from cache; calibration and unfinished sentences included\)\D*(\d+) \+ (\d+)",
        result.output,
    )
    assert shown is not None, result.output
    assert (int(shown[1]), int(shown[2])) == (50 * len(server.requests), sum(completions))
    calibration = sum(content_free(r["body"]["messages"]) for r in server.requests)
    assert calibration > 0  # asked, billed, and in the line above
    finished = RunDir(tmp_path / "run").finished_ids()
    assert 0 < len(finished) < len(instances)
    print(
        f"\nbudget {BUDGET} at --concurrency 64: billed {billed} ({billed / BUDGET:.2f}x) in "
        f"{len(server.requests)} requests ({calibration} calibration), {len(finished)} sentences finished"
    )


def test_a_stopped_sentence_is_neither_failed_nor_finished_and_the_next_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-budget-test")
    instances = numbered_corpus(tmp_path / "in.jsonl", 12, "c")
    with stub_server(gold_script(SCHEMA, instances)) as server:
        ctx = MbreContext(model="openai:stub-model", base_url=server.base_url)
        first = discover(
            Inventory.build(SCHEMA), instances, ctx, tmp_path, concurrency=8, budget=Budget(tokens=2000)
        )
        assert first.stopped == "budget" and not first.failed
        assert first.billed.billed_prompt_tokens + first.billed.billed_completion_tokens <= 2000
        assert first.billed.calls == len(server.requests) and first.billed.calls > first.usage.calls
        second = discover(Inventory.build(SCHEMA), instances, ctx, tmp_path, concurrency=8)
    assert second.stopped is None and second.resumed == first.sentences
    assert sorted(RunDir(tmp_path).finished_ids()) == sorted(i.id for i in instances)
