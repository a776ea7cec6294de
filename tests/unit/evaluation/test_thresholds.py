"""`mbre calibrate`: per-relation thresholds from reviewed samples, the precision-yield curve they come from,
and `discover --thresholds` applying them; every figure checked by hand on small runs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mbre.cli.app import app
from mbre.errors import SettingError
from mbre.evaluation.curves import operating_point, precision_yield, ranked_prediction
from mbre.evaluation.thresholds import NEVER, pick_thresholds
from mbre.schemas.results import Decision, Sample
from mbre.schemas.thresholds import Thresholds
from tests.support.data import EXAMPLES, PROVENANCE
from tests.support.fakes import gold_model

CALIBRATED = PROVENANCE.model_copy(update={"decision_policy": "calibrated"})


def scored(id: str, scores: dict[str, float], threshold: float = 0.5) -> Sample:
    """A sample decided by the calibrated rule from `scores`."""
    best = max(scores, key=scores.get)
    kept = scores[best] >= threshold
    decision = Decision(
        label=best if kept else "Other",
        confidence=scores[best],
        rule="scored" if kept else "below_threshold",
        candidates=list(scores),
        scores=scores,
    )
    text = f"{id} met {id}x."
    return Sample(
        id=id,
        text=text,
        head={"name": id, "start": 0, "end": len(id)},
        tail={"name": f"{id}x", "start": len(id) + 5, "end": len(id) + 7 + len(id) - 1},
        relation=decision.label,
        confidence=decision.confidence,
        decision=decision,
        provenance=CALIBRATED,
    )


# a: right at 0.9, 0.8 and 0.6, wrong at 0.7 and 0.4. b: right at 0.95, wrong at 0.55.
SAMPLES = [
    scored("s1", {"a": 0.9, "b": 0.1}),
    scored("s2", {"a": 0.8}),
    scored("s3", {"a": 0.7}),
    scored("s4", {"a": 0.6}),
    scored("s5", {"a": 0.4}),
    scored("s6", {"b": 0.95}),
    scored("s7", {"b": 0.55}),
]
GOLD = {"s1": "a", "s2": "a", "s3": "Other", "s4": "a", "s5": "b", "s6": "b", "s7": "Other"}


def test_the_curve_walks_the_scores_down():
    points = precision_yield(SAMPLES, [GOLD[s.id] for s in SAMPLES], "Other")
    assert [(p.threshold, p.kept) for p in points][:3] == [(0.95, 1), (0.9, 2), (0.8, 3)]
    assert [round(p.precision, 3) for p in points] == [1.0, 1.0, 1.0, 0.75, 0.8, 0.667, 0.571]
    assert points[-1].yield_share == 1.0 and points[-1].recall == pytest.approx(4 / 5)
    assert operating_point(points, 0.8).kept == 5 and operating_point(points, 0.8).threshold == 0.6
    assert operating_point(points, 1.01) is None
    assert ranked_prediction(scored("x", {"Other": 0.9}), "Other") is None


def test_each_relation_gets_the_lowest_threshold_that_reaches_the_target():
    picked = pick_thresholds(SAMPLES, GOLD, "Other", target_precision=0.75, min_support=2)
    a, b = picked.labels["a"], picked.labels["b"]
    # a kept at >= 0.6: right 3 of 4; at >= 0.4 it would be 3 of 5.
    assert (a.threshold, a.kept, a.precision, a.support) == (0.6, 4, 0.75, 5)
    assert (b.threshold, b.kept, b.precision, b.support) == (0.95, 1, 1.0, 2)
    # Over every relation: >= 0.6 keeps 5 (4 right: 0.8); >= 0.55 keeps 6 (4 right: 0.667).
    assert picked.default == 0.6 and picked.reviewed == 7
    assert picked.pairs() == (("a", 0.6), ("b", 0.95))


def test_few_reviewed_samples_fall_back_to_the_default_and_an_unreachable_target_keeps_nothing():
    picked = pick_thresholds(SAMPLES, GOLD, "Other", target_precision=0.75, min_support=3)
    assert set(picked.labels) == {"a"}
    strict = pick_thresholds(SAMPLES, {"s3": "b", "s5": "b"}, "Other", target_precision=0.9, min_support=1)
    assert strict.labels["a"].threshold == NEVER and strict.labels["a"].kept == 0
    assert strict.default == NEVER


def test_calibrate_refuses_what_it_cannot_use():
    paper = SAMPLES[0].model_copy(update={"provenance": PROVENANCE})
    with pytest.raises(SettingError, match="not labelled with decision=calibrated"):
        pick_thresholds([paper], GOLD, "Other", target_precision=0.8)
    with pytest.raises(SettingError, match="no id in common"):
        pick_thresholds(SAMPLES, {"zz": "a"}, "Other", target_precision=0.8)
    with pytest.raises(SettingError, match="target precision"):
        pick_thresholds(SAMPLES, GOLD, "Other", target_precision=0)
    blind = SAMPLES[0].model_copy(update={"confidence": None, "confidence_source": "none"})
    with pytest.raises(SettingError, match="without any confidence"):
        pick_thresholds([blind, *SAMPLES[1:]], GOLD, "Other", target_precision=0.8)


def test_calibrate_then_discover_with_the_thresholds(tmp_path, monkeypatch):
    """The command picks thresholds from a reviewed run and reports what they keep on it; discover
    applies them and keeps only labels that reach them."""
    from dataclasses import replace

    from mbre.run import config
    from mbre.schemas.instances import read_instances
    from mbre.schemas.relations import RelationSchema

    schema = RelationSchema.from_file(EXAMPLES / "relations.json")
    sentences = read_instances(EXAMPLES / "sentences.jsonl")
    fake = gold_model(schema, sentences)
    real = config.load_context
    monkeypatch.setattr(config, "load_context", lambda *a, **k: replace(real(*a, **k), chat_model=fake))
    runner = CliRunner()
    common = ["--relations", str(EXAMPLES / "relations.json")]
    first = runner.invoke(
        app,
        ["discover", *common, "--input", str(EXAMPLES / "sentences.jsonl"), "--run-dir", str(tmp_path / "r")],
    )
    assert first.exit_code == 0, first.output
    out = tmp_path / "thresholds.json"
    result = runner.invoke(
        app,
        [
            "calibrate",
            *common,
            "--run-dir",
            str(tmp_path / "r"),
            "--gold",
            str(EXAMPLES / "sentences.jsonl"),
            "--target-precision",
            "0.9",
            "--min-support",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    picked = Thresholds.from_file(out)
    assert picked.reviewed == len(sentences) and picked.target_precision == 0.9
    assert all(entry.precision is None or entry.precision >= 0.9 for entry in picked.labels.values())
    assert "replayed on the 21 reviewed samples" in " ".join(result.output.split())
    # Strict thresholds on every label: discover keeps nothing positive, with no other change.
    strict = tmp_path / "strict.json"
    strict.write_text(
        json.dumps(
            {
                "target_precision": 1.0,
                "default": 1.0,
                "labels": {label: {"threshold": 1.0} for label in picked.labels},
            }
        )
    )
    second = runner.invoke(
        app,
        [
            "discover",
            *common,
            "--input",
            str(EXAMPLES / "sentences.jsonl"),
            "--run-dir",
            str(tmp_path / "s"),
            "--thresholds",
            str(strict),
        ],
    )
    assert second.exit_code == 0, second.output
    samples = [json.loads(line) for line in (tmp_path / "s" / "samples.jsonl").read_text().splitlines()]
    assert all(s["relation"] == "no_relation" for s in samples)
    # Sentences whose groups named a candidate score below 1; the others had none to score.
    assert {s["decision"]["rule"] for s in samples} == {"below_threshold", "no_candidate"}
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"target_precision": 1, "default": 1, "labels": {"Cause-Effect": {"threshold": 1}}})
    )
    refused = runner.invoke(
        app,
        [
            "discover",
            *common,
            "--input",
            str(EXAMPLES / "sentences.jsonl"),
            "--run-dir",
            str(tmp_path / "t"),
            "--thresholds",
            str(bad),
        ],
    )
    assert refused.exit_code == 2 and "labels the schema does not have: Cause-Effect" in refused.output


def test_calibrate_ties_the_reviewed_file_and_the_thresholds_to_the_run_and_its_schema(tmp_path, monkeypatch):
    """Ids alone prove nothing: a reviewed sentence must read as the run's, unknown ids are reported, and
    the thresholds name their schema, so another schema (same labels, other definitions) refuses them."""
    from dataclasses import replace

    from mbre.run import config
    from mbre.schemas.instances import read_instances
    from mbre.schemas.relations import RelationSchema

    schema = RelationSchema.from_file(EXAMPLES / "relations.json")
    sentences = read_instances(EXAMPLES / "sentences.jsonl")
    fake = gold_model(schema, sentences)
    real = config.load_context
    monkeypatch.setattr(config, "load_context", lambda *a, **k: replace(real(*a, **k), chat_model=fake))
    runner = CliRunner()
    relations, corpus, run = (
        str(EXAMPLES / "relations.json"),
        str(EXAMPLES / "sentences.jsonl"),
        str(tmp_path / "r"),
    )
    assert (
        runner.invoke(
            app, ["discover", "--relations", relations, "--input", corpus, "--run-dir", run]
        ).exit_code
        == 0
    )
    lines = (EXAMPLES / "sentences.jsonl").read_text().splitlines()

    def calibrate(gold_lines: list[str], schema_file: str = relations) -> object:
        (tmp_path / "gold.jsonl").write_text("".join(line + "\n" for line in gold_lines))
        args = [
            "calibrate",
            "--relations",
            schema_file,
            "--run-dir",
            run,
            "--gold",
            str(tmp_path / "gold.jsonl"),
        ]
        return runner.invoke(app, [*args, "--min-support", "1", "--out", str(tmp_path / "t.json")])

    other = sentences[1].model_copy(update={"id": sentences[0].id, "relation": sentences[0].relation})
    swapped = calibrate([other.model_dump_json(exclude_none=True), *lines[1:]])
    assert swapped.exit_code == 2
    assert " ".join(swapped.output.split()) == " ".join(
        f"error: {tmp_path / 'gold.jsonl'}: field 'id': sentence {sentences[0].id!r} differs from the run's "
        f"(text): reviewed {sentences[1].text!r} (head {sentences[1].head.name!r}, tail "
        f"{sentences[1].tail.name!r}), run {sentences[0].text!r} (head {sentences[0].head.name!r}, tail "
        f"{sentences[0].tail.name!r}): review the run's own sentences".split()
    )
    stranger = sentences[0].model_copy(update={"id": "not-in-the-run"})
    result = calibrate([*lines, stranger.model_dump_json(exclude_none=True)])
    assert result.exit_code == 0, result.output
    assert "not in the run 1 reviewed sentences, left out: 'not-in-the-run'" in " ".join(
        result.output.split()
    )
    picked = Thresholds.from_file(tmp_path / "t.json")
    assert picked.schema_hash == schema.sha256 and picked.reviewed == len(sentences)

    # Same labels, one definition reworded: neither calibrate nor discover takes the other's files.
    reworded = json.loads((EXAMPLES / "relations.json").read_text())
    reworded[0]["description"] = "Reworded: " + reworded[0]["description"]
    (tmp_path / "reworded.json").write_text(json.dumps(reworded))
    refused = calibrate(lines, str(tmp_path / "reworded.json"))
    assert refused.exit_code == 2 and "is not the schema" in refused.output  # the run keeps its own schema
    args = ["discover", "--relations", str(tmp_path / "reworded.json"), "--input", corpus]
    applied = runner.invoke(
        app, [*args, "--run-dir", str(tmp_path / "s"), "--thresholds", str(tmp_path / "t.json")]
    )
    assert applied.exit_code == 2
    assert "these thresholds were picked for another relation schema" in " ".join(applied.output.split())
