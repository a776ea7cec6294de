"""`mbre export` on a hand-made run: reviewed labels win, the keep rule, the confidence filter, the balance
rule, the card, and errors that name the file, line and field."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mbre.cli.app import app
from mbre.schemas.instances import read_instances
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
