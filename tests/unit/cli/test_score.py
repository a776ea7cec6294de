"""`mbre score`: a finished run against its input's gold labels, equal to what `mbre evaluate` reported for
the same run, with no LLM call; and the runs it cannot score, refused with the file and the field."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mbre.cli.app import app
from tests.support.samples import SAMPLES, write_run
from tests.unit.cli.test_evaluate import evaluate_args, inputs, model  # noqa: F401  # fixtures

runner = CliRunner(env={"COLUMNS": "200"})


def test_score_repeats_the_evaluation_of_the_same_run_without_a_call(model, inputs, tmp_path):  # noqa: F811
    report = tmp_path / "report"
    result = runner.invoke(app, evaluate_args(inputs, report, "--strategies", "mbre,mbre:paper"))
    assert result.exit_code == 0, result.output
    evaluated = {s["name"]: s for s in json.loads((report / "report.json").read_text())["strategies"]}
    asked = len(model.calls)

    for arm, directory in (("mbre", "mbre"), ("mbre:paper", "mbre-paper")):
        out = tmp_path / f"score-{directory}"
        result = runner.invoke(app, ["score", str(report / directory), "--report-dir", str(out)])
        assert result.exit_code == 0, result.output
        document = json.loads((out / "report.json").read_text())
        (scored,) = document["strategies"]
        for key in ("accuracy", "micro", "macro", "per_label", "confusion", "abstained", "cost"):
            assert scored[key] == evaluated[arm][key], key
        assert document["setup"]["sentences"] == 4
        assert (out / "report.md").read_text().startswith("# mbre evaluation")
        assert (out / f"confusion_{scored['name'].replace(':', '-')}.png").is_file()
    assert document["epsilon_sweep"]  # the paper's rule: its sweep replays from the samples
    assert len(model.calls) == asked  # read, never asked again
    default = runner.invoke(app, ["score", str(report / "mbre")])
    assert default.exit_code == 0 and (report / "mbre" / "score" / "report.json").is_file()


def test_a_run_without_gold_labels_or_schema_is_refused_in_one_line(tmp_path):
    unlabelled = write_run(tmp_path / "run", [s for s in SAMPLES if s.gold is None])
    result = runner.invoke(app, ["score", str(unlabelled)])
    assert result.exit_code == 2
    assert "does not hold its relation schema" in result.output and "--relations" in result.output

    schema = tmp_path / "relations.json"
    labels = ["founded_by", "ceo_of", "born_in", "employee_of", "lives_in", "no_relation"]
    schema.write_text(json.dumps([{"label": label, "description": f"{label} holds."} for label in labels]))
    result = runner.invoke(app, ["score", str(unlabelled), "--relations", str(schema)])
    assert result.exit_code == 2
    assert "samples.jsonl: no sample has a gold label" in " ".join(result.output.split())
