"""The graph and the CLI on the real embedded model: llama.cpp's llama-server with Qwen2.5-Coder-1.5B on
loopback, through the same langchain-openai path as any remote server. Slow (about a minute)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mbre import MbreContext, build_graph
from tests.support.data import ROOT

pytestmark = pytest.mark.llm


def test_graph_on_semeval_sentences_with_the_real_model(semeval_schema, semeval_test):
    graph = build_graph(semeval_schema)
    ctx = MbreContext(model="local")
    instances = semeval_test[:4]
    outputs = graph.batch([{"instance": i} for i in instances], context=ctx, config={"max_concurrency": 4})
    for output in outputs:
        decision = output["decision"]
        assert decision.label is None or decision.label in semeval_schema.labels
        assert len(decision.extractions) == 3  # route="all": every group asked once
        assert {e.group for e in decision.extractions} == {0, 1, 2}
        assert [v.label for v in decision.verdicts] == decision.candidates
        assert decision.usage.calls == 3 + len(decision.verdicts) + sum(
            e.abstained for e in decision.extractions
        )
        assert decision.usage.prompt_tokens > 300 * 3 and decision.usage.completion_tokens > 0
        for extraction in decision.extractions:
            assert json.loads(extraction.raw)["label"]  # constrained decoding: always schema JSON
        for verdict in decision.verdicts:
            assert verdict.raw.lower().startswith(("yes", "no")) and not verdict.abstained
        for answer in [*decision.extractions, *decision.verdicts]:
            assert answer.confidence is not None and 0 < answer.confidence <= 1  # logprobs came back


def test_cli_discover_on_the_examples_with_the_embedded_model(tmp_path):
    run_dir, trace = tmp_path / "run", tmp_path / "trace.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["MBRE_CACHE_PATH"] = str(tmp_path / "cache.sqlite")  # a real model run, not cached answers
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mbre",
            "discover",
            "--relations",
            "examples/relations.json",
            "--input",
            "examples/sentences.jsonl",
            "--run-dir",
            str(run_dir),
            "--limit",
            "3",
            "--trace",
            str(trace),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert sorted(s["id"] for s in samples) == ["ex-01", "ex-02", "ex-03"]
    labels = {r["relation"] for r in json.loads((ROOT / "examples/relations.json").read_text())}
    for sample in samples:
        assert sample["relation"] is None or sample["relation"] in labels
        assert sample["provenance"]["model"] == "local" and sample["provenance"]["strategy"] == "mbre"
    llm_records = [r for r in map(json.loads, trace.read_text().splitlines()) if r["type"] == "llm"]
    # One record per attempt: a call retried after a timeout (a busy machine) also leaves its failed tries.
    answered = [r for r in llm_records if "error" not in r]
    assert len(answered) == sum(s["decision"]["usage"]["calls"] for s in samples)
    assert len(llm_records) - len(answered) == sum(s["decision"]["usage"]["retries"] for s in samples)
    assert f"samples in {run_dir / 'samples.jsonl'}" in " ".join(result.stderr.split())
