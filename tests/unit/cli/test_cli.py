"""The `mbre` command end to end, with the `openai:` provider talking HTTP to a stub server on loopback."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mbre.cli.app import app
from mbre.prompts.render import marked_sentence
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES, SEMEVAL
from tests.support.fakes import content_free, gold_script
from tests.support.openai_stub import Fault, stub_server

SECRET = "sk-test-do-not-leak-4242"
runner = CliRunner()


def discover(input: Path, run_dir: Path, model: str, *extra: str):
    """Run `mbre discover` on the example schema in-process."""
    args = ["discover", "--relations", str(EXAMPLES / "relations.json"), "--input", str(input)]
    return runner.invoke(app, [*args, "--run-dir", str(run_dir), "--model", model, *extra])


def test_group_prints_the_groups_and_saves_the_artifact(tmp_path):
    out = tmp_path / "grouping.json"
    result = runner.invoke(app, ["group", "--relations", str(SEMEVAL / "relations.json"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "19 labels in 3 groups" in result.output
    assert json.loads(out.read_text())["groups"][1][0] == "Cause-Effect(e1,e2)"


def test_discover_over_http_writes_samples_trace_and_never_the_key(tmp_path, monkeypatch):
    sentences = read_instances(EXAMPLES / "sentences.jsonl")
    schema = RelationSchema.from_file(EXAMPLES / "relations.json")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    run_dir, trace = tmp_path / "run", tmp_path / "trace.jsonl"
    out = run_dir / "samples.jsonl"
    with stub_server(gold_script(schema, sentences)) as server:
        result = discover(
            EXAMPLES / "sentences.jsonl",
            run_dir,
            "openai:stub-model",
            "--base-url",
            server.base_url,
            "--trace",
            str(trace),
        )
    assert result.exit_code == 0, result.output
    samples = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(s["id"] for s in samples) == sorted(s.id for s in sentences)  # each exactly once
    assert all(s["relation"] == s["gold"] for s in samples)
    assert all(0 < s["confidence"] <= 1 for s in samples if s["relation"] != "no_relation")
    provenance = samples[0]["provenance"]
    assert provenance["model"] == "openai:stub-model" and len(provenance["prompt_hash"]) == 64
    assert len(provenance["grouping_hash"]) == 64 and provenance["strategy"] == "mbre"

    # The key authenticated every request, and appears nowhere the user can read.
    assert all(r["headers"]["authorization"] == f"Bearer {SECRET}" for r in server.requests)
    # Every question is answered by one word, and asks for the alternatives of its first token.
    assert all(r["body"]["max_completion_tokens"] <= 2 for r in server.requests)
    assert all(r["body"]["logprobs"] is True and r["body"]["top_logprobs"] == 20 for r in server.requests)
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    assert {r["type"] for r in records} == {"node", "llm"}
    llm = [r for r in records if r["type"] == "llm"]
    assert len(llm) == len(server.requests) and all(len(r["prompt_sha256"]) == 64 for r in llm)
    # Content-free questions are marked and belong to no sentence; every other call is a sentence's.
    calibration = [r for r in llm if r.get("calibration")]
    asked = sum(1 for r in server.requests if content_free(r["body"]["messages"]))
    assert asked > 0 and len(calibration) == asked and all(r["id"] is None for r in calibration)
    per_sentence = Counter(r["id"] for r in llm if not r.get("calibration"))
    assert per_sentence == {s["id"]: s["decision"]["usage"]["calls"] for s in samples}
    assert {r["node"] for r in records if r["type"] == "node"} >= {
        "route",
        "extract",
        "propose",
        "verify",
        "decide",
    }
    for text in (trace.read_text(), out.read_text(), (run_dir / "manifest.json").read_text(), result.output):
        assert SECRET not in text
    assert re.search(r"sentences labelled now\s+│\s+21", result.output)


def test_discover_refuses_bad_input_before_any_call(tmp_path):
    bad = tmp_path / "bad.jsonl"
    good = (EXAMPLES / "sentences.jsonl").read_text().splitlines()[0]
    bad.write_text(good + "\n" + good.replace('"start": ', '"start": 1') + "\n")
    with stub_server(lambda messages, schema: pytest.fail("no LLM call may happen")) as server:
        result = discover(bad, tmp_path / "run", "openai:m", "--base-url", server.base_url)
    assert result.exit_code == 2
    assert f"{bad}:2: field 'head'" in " ".join(result.output.split())
    assert not server.requests


def test_help_lists_the_commands_and_options():
    result = runner.invoke(app, ["discover", "--help"])
    assert result.exit_code == 0
    for option in (
        "--relations",
        "--input",
        "--run-dir",
        "--model",
        "--strategy",
        "--trace",
        "--route-top-k",
        "--fresh",
        "--retry-failed",
        "--budget",
        "--on-bad-input",
    ):
        assert option in result.output


def test_unknown_embedded_model_is_a_clear_error(tmp_path):
    result = discover(EXAMPLES / "sentences.jsonl", tmp_path / "run", "local:llama-70b")
    assert result.exit_code == 2
    assert "unknown embedded model 'llama-70b': known models are" in " ".join(result.output.split())
    assert not (tmp_path / "run").exists()


def test_on_bad_input_skip_quarantines_bad_lines_and_labels_the_rest(tmp_path):
    sentences = read_instances(EXAMPLES / "sentences.jsonl")[:3]
    schema = RelationSchema.from_file(EXAMPLES / "relations.json")
    lines = [s.model_dump_json() for s in sentences]
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("\n".join([lines[0], "{oops", lines[1], "", lines[1], lines[2]]) + "\n")
    with stub_server(gold_script(schema, sentences)) as server:
        result = discover(
            corpus, tmp_path / "run", "openai:m", "--base-url", server.base_url, "--on-bad-input", "skip"
        )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert (
        f"skipped {corpus}:2: not valid JSON" in text
        and f"skipped {corpus}:5: field 'id': duplicate id" in text
    )
    assert re.search(r"bad input lines \(quarantined\)\s+│\s+2", result.output)
    records = [json.loads(line) for line in (tmp_path / "run" / "quarantine.jsonl").read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in records] == [(2, None), (5, "id")]
    samples = (tmp_path / "run" / "samples.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in samples) == sorted(s.id for s in sentences)


def one_line(result) -> str:
    """The output as one line of words, without the frame that click draws around usage errors."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--limit", "-1"], "Invalid value for '--limit': Input should be greater than or equal to 1"),
        (
            ["--concurrency", "0"],
            "Invalid value for '--concurrency': Input should be greater than or equal to 1",
        ),
        (
            ["--concurrency", "-5"],
            "Invalid value for '--concurrency': Input should be greater than or equal to 1",
        ),
        (["--epsilon", "2"], "error: --epsilon 2.0: must be less than or equal to 1"),
        (["--epsilon", "-1"], "error: --epsilon -1.0: must be greater than or equal to 0"),
        (["--epsilon", "nan"], "error: --epsilon nan: must be a finite number"),
        (["--route-top-k", "0"], "error: --route-top-k 0: must be greater than or equal to 1"),
        (["--budget", "0"], "error: budget '0' allows nothing: give more than 0"),
        (
            ["--grouping", str(EXAMPLES / "relations.json")],
            "not a grouping artifact: save one with mbre group",
        ),
    ],
)
def test_bad_arguments_are_refused_before_any_call_with_exit_2(tmp_path, extra, message):
    with stub_server(lambda messages, schema: pytest.fail("no LLM call may happen")) as server:
        result = discover(
            EXAMPLES / "sentences.jsonl", tmp_path / "run", "openai:m", "--base-url", server.base_url, *extra
        )
    assert result.exit_code == 2, result.output
    assert message in one_line(result)
    assert not server.requests and not (tmp_path / "run").exists()


def test_paths_that_cannot_be_written_are_one_line_and_exit_1(tmp_path):
    (tmp_path / "file").write_text("")
    with stub_server(lambda messages, schema: pytest.fail("no LLM call may happen")) as server:
        run_in_a_file = discover(
            EXAMPLES / "sentences.jsonl", tmp_path / "file", "openai:m", "--base-url", server.base_url
        )
        trace_nowhere = discover(
            EXAMPLES / "sentences.jsonl",
            tmp_path / "run",
            "openai:m",
            "--base-url",
            server.base_url,
            "--trace",
            str(tmp_path / "missing" / "trace.jsonl"),
        )
    assert (run_in_a_file.exit_code, one_line(run_in_a_file)) == (
        1,
        f"error: {tmp_path / 'file'} is a file, not a directory: choose another path",
    )
    assert not (tmp_path / "run").exists()
    assert (trace_nowhere.exit_code, one_line(trace_nowhere)) == (
        1,
        f"error: cannot write {tmp_path / 'missing' / 'trace.jsonl'}: No such file or directory",
    )
    group = runner.invoke(
        app,
        ["group", "--relations", str(EXAMPLES / "relations.json"), "--out", str(tmp_path / "no" / "g.json")],
    )
    assert group.exit_code == 1
    assert f"error: cannot write {tmp_path / 'no' / 'g.json'}: No such file or directory" in one_line(group)


def test_plan_prices_only_known_strategies():
    args = [
        "plan",
        "--relations",
        str(EXAMPLES / "relations.json"),
        "--input",
        str(EXAMPLES / "sentences.jsonl"),
    ]
    result = runner.invoke(app, [*args, "--strategies", "mbre,foo"])
    assert result.exit_code == 2
    assert one_line(result) == (
        "error: name distinct strategies from mbre, multiclass, binary, at least one; got ['mbre', 'foo']"
    )


def test_an_incomplete_run_exits_non_zero(tmp_path):
    sentences = read_instances(EXAMPLES / "sentences.jsonl")
    schema = RelationSchema.from_file(EXAMPLES / "relations.json")
    refuse_first = Fault("bad_request", message="refused")
    with stub_server(
        gold_script(schema, sentences),
        lambda n, body: refuse_first if marked_sentence(sentences[0]) in json.dumps(body) else None,
    ) as server:
        args = [EXAMPLES / "sentences.jsonl", tmp_path / "run", "openai:m", "--base-url", server.base_url]
        budget = discover(*args, "--budget", "1500", "--concurrency", "1")
        finished = discover(*args)
        again = discover(*args)  # nothing left to do but the failure an earlier invocation left
    assert budget.exit_code == 3, budget.output
    assert f"failed {sentences[0].id}: LLMCallError: the provider refused the request" in one_line(budget)
    assert "stopped at the budget: the same command goes on" in one_line(budget)
    for result in (finished, again):
        assert result.exit_code == 1, result.output
        assert "failed in an earlier invocation, not taken again: 1 take them again with" in one_line(result)
    assert re.search(r"sentences labelled now\s+│\s+0", again.output)


def test_piped_input_is_hashed_as_it_was_read(tmp_path):
    lines = (EXAMPLES / "sentences.jsonl").read_text().splitlines(keepends=True)
    schema = RelationSchema.from_file(EXAMPLES / "relations.json")
    env = {**os.environ, "OPENAI_API_KEY": "sk-pipe-test"}
    with stub_server(gold_script(schema, read_instances(EXAMPLES / "sentences.jsonl"))) as server:
        args = [sys.executable, "-m", "mbre", "discover", "--relations", str(EXAMPLES / "relations.json")]
        args += ["--input", "/dev/stdin", "--run-dir", str(tmp_path / "run"), "--model", "openai:m"]
        args += ["--base-url", server.base_url]
        first = subprocess.run(
            args, input="".join(lines[:2]), capture_output=True, text=True, env=env, timeout=300
        )
        other = subprocess.run(
            args, input="".join(lines[2:4]), capture_output=True, text=True, env=env, timeout=300
        )
    assert first.returncode == 0, first.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["input_sha256"] == hashlib.sha256("".join(lines[:2]).encode()).hexdigest()
    assert other.returncode == 2 and "holds results made differently (input_sha256:" in " ".join(
        other.stderr.split()
    )
