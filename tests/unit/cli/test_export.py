"""`mbre export` on a hand-made run: reviewed labels win, the keep rule, the confidence filter, the balance
rule, the card, and errors that name the file, line and field."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from typer.testing import CliRunner

from mbre.cli.app import app
from mbre.schemas.instances import read_instances
from mbre.schemas.results import Sample
from tests.support.data import EXAMPLES
from tests.support.samples import SAMPLES, sample, write_run

runner = CliRunner()


def reviewed_file(tmp_path, labels: dict[str, str]):
    path = tmp_path / "reviewed.jsonl"
    by_id = {sample.id: sample for sample in SAMPLES}
    lines = [
        json.dumps(
            {
                "id": key,
                "text": by_id[key].text,
                "head": by_id[key].head.model_dump(),
                "tail": by_id[key].tail.model_dump(),
                "relation": label,
            }
        )
        for key, label in labels.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_reviewed_labels_win_and_the_filter_and_balance_apply(tmp_path):
    run, out = write_run(tmp_path / "run"), tmp_path / "data"
    reviewed = reviewed_file(tmp_path, {"s-ambiguous": "born_in", "s-low": "employee_of"})
    args = ["export", str(run), "--format", "jsonl", "--out", str(out), "--reviewed", str(reviewed)]
    result = runner.invoke(app, [*args, "--min-confidence", "0.9", "--balance", "none"])
    assert result.exit_code == 0, result.output
    labels = {i.id: i.relation for i in read_instances(out / "train.jsonl")}
    assert labels == {
        "s-sure": "founded_by",
        "s-low": "employee_of",  # reviewed: kept despite mbre's 0.61
        "s-ambiguous": "born_in",  # reviewed: mbre abstained
        "s-disagree": "no_relation",  # no confidence: kept by the filter
        "s-none": "no_relation",
        "s-script": "born_in",
    }
    card = (out / "README.md").read_text()
    assert (
        "Reviewed labels: 2" in card and "abstentions left out: 1" in card and "| born_in | 2 | 2 |" in card
    )

    # founded_by 1, employee_of 1, born_in 2: the cap is 4 // 3 = 1, also for no_relation (found by its rule)
    result = runner.invoke(app, [*args, "--balance", "cap", "--seed", "3"])
    assert result.exit_code == 0, result.output
    exported = [i.relation for i in read_instances(out / "train.jsonl")]
    assert sorted(exported) == ["born_in", "employee_of", "founded_by", "no_relation"]
    card = (out / "README.md").read_text()
    assert (
        "`cap`: every class capped at 1" in card
        and "(seed 3)" in card
        and "No-relation label: no_relation" in card
    )
    assert "prompt_hash: `p`" in card and "sha256" in card


def test_the_keep_rule_leaves_out_the_no_relation_labels_it_names(tmp_path):
    unsure = sample(
        "s-unsure",
        "Jane Roe met Acme.",
        "Jane Roe",
        "Acme",
        "no_relation",
        0.4,
        rule="below_threshold",
        proposed=["employee_of"],
        verified=[("employee_of", True, 0.4)],
    )
    run, out = write_run(tmp_path / "run", [*SAMPLES, unsure]), tmp_path / "data"
    exported = {}
    for keep in ("all", "confident", "positive"):
        args = ["export", str(run), "--format", "jsonl", "--out", str(out / keep), "--keep", keep]
        args += ["--balance", "none"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        exported[keep] = {i.id for i in read_instances(out / keep / "train.jsonl")}
    positives = {"s-sure", "s-low", "s-script"}
    assert exported["all"] == positives | {"s-disagree", "s-none", "s-unsure"}
    assert exported["confident"] == positives | {"s-disagree", "s-none"}
    assert exported["positive"] == positives
    assert "Keep rule: confident; labels it left out: 1" in (out / "confident" / "README.md").read_text()
    # The defaults: keep all, balance cap (founded_by, ceo_of, born_in 1 each: the cap is 1).
    runner.invoke(app, ["export", str(run), "--format", "jsonl", "--out", str(out / "default")])
    default = [i.relation for i in read_instances(out / "default" / "train.jsonl")]
    assert sorted(default) == ["born_in", "ceo_of", "founded_by", "no_relation"]


def test_na_downsample_with_the_schema_writes_every_label_to_rel2id(tmp_path):
    run, out = write_run(tmp_path / "run"), tmp_path / "data"
    result = runner.invoke(
        app,
        [
            "export",
            str(run),
            "--format",
            "opennre",
            "--out",
            str(out),
            "--balance",
            "na-downsample",
            "--relations",
            str(EXAMPLES / "relations.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    rel2id = json.loads((out / "rel2id.json").read_text())
    assert len(rel2id) == 13 and rel2id["founded_by"] == 0
    lines = [json.loads(line) for line in (out / "train.txt").read_text().splitlines()]
    # positives founded_by 1, ceo_of 1, born_in 1: the cap is 1, so one of the two no_relation samples stays
    assert sorted(line["relation"] for line in lines) == ["born_in", "ceo_of", "founded_by", "no_relation"]


def test_a_reviewed_sentence_not_in_the_run_is_named(tmp_path):
    run = write_run(tmp_path / "run", SAMPLES[:2])
    reviewed = reviewed_file(tmp_path, {"s-sure": "founded_by", "s-none": "no_relation"})
    result = runner.invoke(
        app,
        ["export", str(run), "--format", "jsonl", "--out", str(tmp_path / "o"), "--reviewed", str(reviewed)],
    )
    assert result.exit_code == 2
    assert f"{reviewed}:2: field 'id': sentence 's-none' is not in the run" in " ".join(result.output.split())


def labelled_run(tmp_path, n_per_class: dict[str, int]):
    """A run of `n` confident samples per label, each from an input line with its own `doc_id`."""
    samples = []
    for label, n in n_per_class.items():
        for i in range(n):
            base = sample(f"{label}-{i:02d}", f"Ann met Bob ({i}).", "Ann", "Bob", label, 0.95, rule="single")
            samples.append(
                Sample.model_validate(
                    base.model_dump() | {"doc_id": f"d{i}", "confidence_source": "logprobs"}
                )
            )
    return write_run(tmp_path / "run", samples)


def test_split_cuts_every_class_alike_and_is_seeded(tmp_path):
    run = labelled_run(tmp_path, {"founded_by": 20, "ceo_of": 10, "no_relation": 10})
    args = ["export", str(run), "--format", "jsonl", "--balance", "none", "--split", "0.8,0.1,0.1"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "a"), "--seed", "5"])
    assert result.exit_code == 0, result.output
    parts = {name: read_instances(tmp_path / "a" / f"{name}.jsonl") for name in ("train", "dev", "test")}
    counts = {name: Counter(i.relation for i in part) for name, part in parts.items()}
    assert counts == {
        "train": {"founded_by": 16, "ceo_of": 8, "no_relation": 8},
        "dev": {"founded_by": 2, "ceo_of": 1, "no_relation": 1},
        "test": {"founded_by": 2, "ceo_of": 1, "no_relation": 1},
    }
    ids = [i.id for part in parts.values() for i in part]
    assert len(ids) == len(set(ids)) == 40  # each sample in exactly one split
    assert "splits: train 32, dev 4, test 4" in result.output
    again = runner.invoke(app, [*args, "--out", str(tmp_path / "b"), "--seed", "5"])
    other = runner.invoke(app, [*args, "--out", str(tmp_path / "c"), "--seed", "6"])
    assert again.exit_code == other.exit_code == 0
    same = (tmp_path / "b" / "test.jsonl").read_text() == (tmp_path / "a" / "test.jsonl").read_text()
    assert same and (tmp_path / "c" / "test.jsonl").read_text() != (tmp_path / "a" / "test.jsonl").read_text()
    assert "label-stratified" in (tmp_path / "a" / "README.md").read_text()


@pytest.mark.parametrize("split", ["0.8,0.1", "0.8,0.3,0.1", "a,b,c", "0,0.5,0.5"])
def test_a_bad_split_is_one_line(tmp_path, split):
    run = labelled_run(tmp_path, {"founded_by": 2})
    result = runner.invoke(
        app, ["export", str(run), "--format", "jsonl", "--out", str(tmp_path / "o"), "--split", split]
    )
    assert result.exit_code == 2 and f"--split {split!r}" in result.output


def test_balancing_says_what_it_dropped_and_how_to_keep_everything(tmp_path):
    run = labelled_run(tmp_path, {"founded_by": 6, "ceo_of": 2, "no_relation": 5})
    out = tmp_path / "data"
    result = runner.invoke(app, ["export", str(run), "--format", "jsonl", "--out", str(out)])
    assert result.exit_code == 0, result.output
    # the cap is (6 + 2) // 2 = 4: founded_by loses 2, no_relation 1
    rows = {line.split("│")[2].strip(): line for line in result.output.splitlines() if line.count("│") >= 5}
    assert re.search(r"founded_by\s+│\s+6\s+│\s+4\s+│\s+2", rows["founded_by"])
    assert re.search(r"no_relation\s+│\s+5\s+│\s+4\s+│\s+1", rows["no_relation"])
    assert "balance cap left out 3 samples: --balance none keeps every one" in result.output
    card = (out / "README.md").read_text()
    assert "| 0 | ceo_of | 2 | 2 | 0 |" in card and "`--balance none` keeps every one" in card


def test_the_export_keeps_input_fields_confidence_and_reviewed(tmp_path):
    run = labelled_run(tmp_path, {"founded_by": 2, "ceo_of": 2})
    reviewed = tmp_path / "reviewed.jsonl"
    first = read_instances(run / "samples.jsonl")[0]  # founded_by-00, relabelled by a person
    reviewed.write_text(first.model_copy(update={"relation": "ceo_of"}).model_dump_json() + "\n")
    out = tmp_path / "data"
    args = ["export", str(run), "--format", "jsonl", "--out", str(out), "--balance", "none"]
    result = runner.invoke(app, [*args, "--reviewed", str(reviewed)])
    assert result.exit_code == 0, result.output
    lines = {line["id"]: line for line in map(json.loads, (out / "train.jsonl").read_text().splitlines())}
    assert {
        k: lines["founded_by-01"][k] for k in ("doc_id", "confidence", "confidence_source", "reviewed")
    } == {
        "doc_id": "d1",
        "confidence": 0.95,
        "confidence_source": "logprobs",
        "reviewed": False,
    }
    changed = lines["founded_by-00"]  # mbre did not score the reviewer's label
    assert (changed["relation"], changed["reviewed"], changed["confidence"]) == ("ceo_of", True, None)
    assert changed["doc_id"] == "d0"
