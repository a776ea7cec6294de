"""Reports on disk and in the terminal: every reproducibility field, every table, valid PNG charts."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from PIL import Image
from rich.console import Console

from mbre import MbreContext, __version__
from mbre.cli.evaluate import print_evaluation
from mbre.cli.tables import print_rows
from mbre.evaluation.report import write_evaluation
from mbre.evaluation.strategies import Evaluation, evaluate
from mbre.prompts.render import prompts_hash
from mbre.schemas.results import Decision, Sample
from mbre.student.comparison import evaluate_student
from mbre.student.report import student_rows, write_student
from tests.support.data import PROVENANCE
from tests.support.fruits import (
    GOLD,
    GROUPING,
    INVENTORY,
    SCHEMA,
    fruit_model,
    keyword_sentences,
    run_fruit_evaluation,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def reported(tmp_path_factory) -> tuple[Evaluation, Path]:
    out = tmp_path_factory.mktemp("report")
    gold = out / "gold.jsonl"
    gold.write_text("".join(instance.model_dump_json() + "\n" for instance in GOLD))
    evaluation = run_fruit_evaluation(out / "runs", limit=3, seed=7, files={"gold": gold})
    write_evaluation(evaluation, out)
    return evaluation, out


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
        assert image.size[0] > 100 and image.size[1] > 100


def test_report_json_records_what_reproduces_the_run(reported):
    evaluation, out = reported
    report = json.loads((out / "report.json").read_text())
    run, setup = report["run"], report["setup"]
    assert run["command"] == sys.argv and run["mbre_version"] == __version__ and run["date"]
    gold = out / "gold.jsonl"
    assert run["files"]["gold"] == {
        "path": str(gold),
        "sha256": hashlib.sha256(gold.read_bytes()).hexdigest(),
    }
    assert setup["model"] == "ScriptedChatModel"
    assert setup["prompt_hash"] == prompts_hash() and setup["schema_hash"] == SCHEMA.sha256
    assert setup["grouping_hash"] == GROUPING.sha256 and setup["groups"] == [["A", "C", "Other"], ["B", "D"]]
    assert (setup["limit"], setup["seed"], setup["sentences"], setup["no_relation"]) == (3, 7, 3, "Other")
    assert setup["settings"]["decision"] == "paper" and setup["settings"]["epsilon"] == 0.1
    assert Evaluation.model_validate(report) == evaluation


def test_report_json_holds_every_score_and_cost(reported):
    _, out = reported
    report = json.loads((out / "report.json").read_text())
    assert report["reference"] == "mbre"
    assert [s["strategy"] for s in report["strategies"]] == ["mbre", "multiclass", "binary"]
    for strategy in report["strategies"]:
        assert {
            "accuracy",
            "micro",
            "macro",
            "semeval_macro_f1",
            "per_label",
            "confusion",
            "abstained",
        } <= set(strategy)
        assert set(strategy["micro"]) == {"precision", "recall", "f1"}
        assert set(strategy["per_label"][0]) == {
            "label",
            "support",
            "predicted",
            "correct",
            "precision",
            "recall",
            "f1",
        }
        assert len(strategy["confusion"]["matrix"]) == len(strategy["confusion"]["labels"]) == 5
        cost = strategy["cost"]
        for key in ("calls", "prompt_tokens", "completion_tokens", "seconds", "calls_per_sentence"):
            assert key in cost
        assert {
            "prompt_tokens_per_sentence",
            "completion_tokens_per_sentence",
            "seconds_per_sentence",
        } <= set(cost)
        assert set(strategy["ratios"]) == {"calls", "prompt_tokens", "completion_tokens", "seconds"}
    assert [row["epsilon"] for row in report["epsilon_sweep"]] == [0.001, 0.01, 0.02, 0.05, 0.1]
    assert {"kept", "precision"} <= set(report["epsilon_sweep"][0])
    assert [row["top_k"] for row in report["route"]] == [None, 1, 2, 3]
    assert {"recall", "f1", "calls_per_sentence", "recall_lost"} <= set(report["route"][0])


def test_report_md_and_charts(reported):
    _, out = reported
    markdown = (out / "report.md").read_text()
    for text in (
        "| strategy | accuracy |",
        "### epsilon sweep (mbre with the paper's rule, replayed)",
        "### precision-yield operating points (replayed from the recorded scores)",
        "### route_top_k (mbre, replayed)",
        "### per label: binary",
        "### confusion: mbre (rows gold, columns predicted)",
        "(abstained)",
        f"- prompts sha256: `{prompts_hash()}`",
        f"- grouping sha256: `{GROUPING.sha256}`",
        "- group 1: B, D",
        "- gold: `",
        "- model: `ScriptedChatModel`",
        "3 drawn with seed 7",
        "![F1 and calls per strategy](f1_and_calls.png)",
    ):
        assert text in markdown, text
    for name in (
        "f1_and_calls",
        "precision_yield",
        "epsilon",
        "confusion_mbre",
        "confusion_multiclass",
        "confusion_binary",
    ):
        assert_png(out / f"{name}.png")


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Evaluation:
    return run_fruit_evaluation(tmp_path_factory.mktemp("whole"))


def test_terminal_tables(whole):
    console = Console(record=True, width=200)
    print_evaluation(whole, console)
    text = console.export_text()
    assert "4 gold sentences, model ScriptedChatModel" in text
    assert "calls vs mbre" in text and "1.23x" in text  # binary: 4 calls against 3.25
    assert "epsilon sweep" in text and "route_top_k" in text and "of the 2 nearest" in text


def test_a_partial_timing_is_named_where_s_per_sentence_is_shown(whole, tmp_path):
    console = Console(record=True, width=200)
    print_evaluation(whole, console)
    assert "timed over" not in console.export_text()
    binary = whole.strategies[2]
    partial = binary.model_copy(update={"cost": binary.cost.model_copy(update={"timed_sentences": 1})})
    evaluation = whole.model_copy(update={"strategies": [*whole.strategies[:2], partial]})
    note = "s/sent of binary is timed over 1 of 4 sentences"
    print_evaluation(evaluation, console)
    write_evaluation(evaluation, tmp_path)
    assert note in console.export_text() and note in (tmp_path / "report.md").read_text()


def test_without_an_mbre_run_there_is_no_epsilon_chart(tmp_path):
    evaluation = evaluate(
        INVENTORY, GOLD, ["multiclass"], MbreContext(chat_model=fruit_model()), tmp_path / "r"
    )
    written = write_evaluation(evaluation, tmp_path)
    assert {path.name for path in written} == {
        "report.json",
        "report.md",
        "f1_and_calls.png",
        "precision_yield.png",
        "confusion_multiclass.png",
    }


def test_student_report(tmp_path):
    nouns = ["storm", "flood", "spark", "fire", "virus", "fever"]
    samples = [
        Sample.from_decision(
            instance, Decision(label=instance.relation, confidence=None, rule="single"), PROVENANCE
        )
        for instance in keyword_sentences("d", nouns, 10)
    ]
    train = tmp_path / "samples.jsonl"
    train.write_text("".join(sample.model_dump_json() + "\n" for sample in samples))
    comparison = evaluate_student(
        samples,
        keyword_sentences("t", ["quake", "leak"], 4),
        keyword_sentences("g", nouns, 20),
        no_relation="Other",
        files={"train": train},
    )
    written = write_student(comparison, tmp_path)
    assert [path.name for path in written] == ["report.json", "report.md"]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["run"]["files"]["train"]["sha256"] == hashlib.sha256(train.read_bytes()).hexdigest()
    assert report["samples_provenance"] == [PROVENANCE.model_dump(mode="json")]
    for run in ("discovered", "gold"):
        assert report[run]["train_size"] == 10 and sum(report[run]["label_distribution"].values()) == 10
        scores = report[run]["scores"]["tfidf"]
        assert {"accuracy", "micro", "macro", "semeval_macro_f1", "test_size"} <= set(scores)
    assert report["discovered"]["label_distribution"] == {"Other": 5, "cause": 5}
    markdown = (tmp_path / "report.md").read_text()
    assert "| tfidf | discovered | 10 |" in markdown and "| tfidf | gold | 10 |" in markdown
    assert "samples by `m` (mbre, decision paper, epsilon 0.1): prompts `p`" in markdown
    assert "| cause | 5 |" in markdown
    console = Console(record=True, width=160)
    print_rows(student_rows(comparison), console)
    assert "students on 4 gold test sentences" in console.export_text()
