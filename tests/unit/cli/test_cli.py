"""The `mbre` command end to end, with the `openai:` provider talking HTTP to a stub server on loopback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mbre.cli.app import app
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES, SEMEVAL
from tests.support.fakes import gold_script
from tests.support.openai_stub import stub_server

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
