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
        # A question per group and per candidate (the leader's inverse among them), each re-asked once
        # (parse_retries) if its answer named no option: an abstention was asked twice.
        asked = 3 + len(decision.verdicts)
        abstained = sum(a.abstained for a in [*decision.extractions, *decision.verdicts])
        assert asked + abstained <= decision.usage.calls <= 2 * asked
        # Three group questions of some 270 tokens each (no examples), more with candidates verified.
        assert decision.usage.prompt_tokens > 250 * 3 and decision.usage.completion_tokens > 0
        for extraction in decision.extractions:
            if not extraction.abstained:  # one letter, the model's own, with every option's probability
                assert extraction.label in [*extraction.labels, None]
                assert extraction.probabilities is not None
                assert abs(sum(extraction.probabilities) - 1) < 1e-6
        for verdict in decision.verdicts:
            if not verdict.abstained:
                assert verdict.raw.strip().lower().startswith(("yes", "no"))
                assert verdict.p_yes is not None and 0 <= verdict.p_yes <= 1
        for answer in [*decision.extractions, *decision.verdicts]:
            if not answer.abstained:
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
    # Calibration calls (content-free sentences, once per question for the run) belong to no sentence.
    calibration = [r for r in llm_records if r.get("calibration")]
    assert calibration and all(r["id"] is None for r in calibration)
    sentences = [r for r in llm_records if not r.get("calibration")]
    answered = [r for r in sentences if "error" not in r]
    assert {r["id"] for r in sentences} <= {"ex-01", "ex-02", "ex-03"}
    assert len(answered) == sum(s["decision"]["usage"]["calls"] for s in samples)
    assert len(sentences) - len(answered) == sum(s["decision"]["usage"]["retries"] for s in samples)
    assert f"samples in {run_dir / 'samples.jsonl'}" in " ".join(result.stderr.split())
