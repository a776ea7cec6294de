"""The self-describing run directory: `discover` keeps the schema as written (and the seeds and thresholds
given), the commands that read a run use it without `--relations`, a `--relations` of another hash is
refused in one line, and a run made before mbre kept its inputs still works with `--relations`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mbre.cli.app import app
from mbre.run.inputs import GivenFiles, read_inputs, run_schema, store_inputs
from mbre.run.rundir import RunDir
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema
from mbre.schemas.thresholds import Thresholds
from tests.support.data import EXAMPLES, synthetic_schema
from tests.support.fakes import gold_script
from tests.support.openai_stub import stub_server
from tests.support.samples import write_run

runner = CliRunner(env={"COLUMNS": "200"})


def labelled_run(tmp_path, monkeypatch, confidence: str = "auto"):
    """The examples labelled over HTTP by a stub that answers with the gold labels; the schema file has
    its own layout (a comment-free but hand-spaced JSON), seeds and thresholds."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-inputs-0000")
    monkeypatch.setenv("MBRE_CONFIDENCE", confidence)
    relations = tmp_path / "my-relations.json"
    relations.write_text(
        "[\n"
        + ",\n\n".join(json.dumps(r) for r in json.loads((EXAMPLES / "relations.json").read_text()))
        + "\n]\n"
    )
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text((EXAMPLES / "sentences.jsonl").read_text().splitlines()[-1] + "\n")  # not labelled
    thresholds = tmp_path / "thresholds.json"
    Thresholds(target_precision=0.8, default=0.6, labels={}).save(thresholds)
    schema = RelationSchema.from_file(relations)
    sentences = EXAMPLES / "sentences.jsonl"
    run = tmp_path / "run"
    with stub_server(gold_script(schema, read_instances(sentences)[:6])) as server:
        result = runner.invoke(
            app,
            [
                "discover", "--relations", str(relations), "--input", str(sentences), "--run-dir", str(run),
                "--model", "openai:stub", "--base-url", server.base_url, "--seeds", str(seeds),
                "--thresholds", str(thresholds), "--limit", "6",
            ],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    return run, relations, seeds, thresholds


def test_discover_keeps_the_inputs_as_written_and_the_readers_use_them(tmp_path, monkeypatch):
    run, relations, seeds, thresholds = labelled_run(tmp_path, monkeypatch)
    assert (run / "relations.json").read_bytes() == relations.read_bytes()
    assert (run / "seeds.jsonl").read_bytes() == seeds.read_bytes()
    assert (run / "thresholds.json").read_bytes() == thresholds.read_bytes()
    kept = read_inputs(run)
    schema = RelationSchema.from_file(relations)
    assert (
        kept is not None
        and kept.schema_hash == schema.sha256 == RunDir(run).samples()[0].provenance.schema_hash
    )
    assert kept.relations.source == str(relations)

    out = tmp_path / "data"
    result = runner.invoke(app, ["export", str(run), "--format", "opennre", "--out", str(out)])
    assert result.exit_code == 0, result.output
    # every relation of the schema, in its order, though 6 sentences cannot hold them all
    assert list(json.loads((out / "rel2id.json").read_text())) == schema.labels

    review = tmp_path / "review"
    result = runner.invoke(app, ["review", "export", str(run), "--select", "all", "--out", str(review)])
    assert result.exit_code == 0, result.output
    config = (review / "label_config.xml").read_text()
    assert all(f'hint="{r.description}"' in config for r in schema.relations[:2])  # the definitions are there

    page = tmp_path / "page.html"
    assert runner.invoke(app, ["view", str(run), "--out", str(page)]).exit_code == 0
    assert schema.relations[0].description in page.read_text()


def test_a_relations_file_of_another_hash_is_refused_in_one_line(tmp_path, monkeypatch):
    run, relations, _, _ = labelled_run(tmp_path, monkeypatch)
    other = tmp_path / "other.json"
    document = json.loads(relations.read_text())
    document[0]["description"] += " Changed."
    other.write_text(json.dumps(document))
    expected = RelationSchema.from_file(relations).sha256[:12]
    for command in (
        ["export", str(run), "--format", "jsonl", "--out", str(tmp_path / "d")],
        ["review", "export", str(run), "--out", str(tmp_path / "r")],
        ["view", str(run)],
        ["score", str(run)],
        ["calibrate", "--run-dir", str(run), "--gold", str(EXAMPLES / "sentences.jsonl")],
    ):
        result = runner.invoke(app, [*command, "--relations", str(other)])
        assert result.exit_code == 2, (command, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and f"the run's {expected}" in lines[0], (command, result.output)
        assert "leave --relations out" in lines[0]
    same = runner.invoke(
        app,
        [
            "export",
            str(run),
            "--format",
            "jsonl",
            "--out",
            str(tmp_path / "d"),
            "--relations",
            str(relations),
        ],
    )
    assert same.exit_code == 0, same.output  # the run's own schema, named again, is accepted


def test_the_readers_work_from_the_run_alone(tmp_path, monkeypatch):
    # The stub sends one character a token, so its "Yes" carries no probability of yes against no:
    # sampled answers give calibrate the scores it needs.
    run, _, _, _ = labelled_run(tmp_path, monkeypatch, confidence="sampled")
    result = runner.invoke(app, ["score", str(run)])  # the examples carry gold labels
    assert result.exit_code == 0, result.output
    assert json.loads((run / "score" / "report.json").read_text())["strategies"][0]["accuracy"] == 1.0
    result = runner.invoke(
        app, ["calibrate", "--run-dir", str(run), "--gold", str(EXAMPLES / "sentences.jsonl"),
              "--out", str(tmp_path / "t.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_an_old_run_without_kept_inputs_works_with_relations(tmp_path):
    run = write_run(tmp_path / "run")  # samples only, as a run made before mbre kept its inputs
    assert run_schema(run) is None
    out = tmp_path / "data"
    relations = EXAMPLES / "relations.json"
    result = runner.invoke(
        app, ["export", str(run), "--format", "opennre", "--out", str(out), "--relations", str(relations),
              "--balance", "none"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert list(json.loads((out / "rel2id.json").read_text())) == RelationSchema.from_file(relations).labels
    result = runner.invoke(app, ["export", str(run), "--format", "jsonl", "--out", str(out)])
    assert result.exit_code == 0 and "no relation schema" in result.output


def test_a_schema_built_in_python_or_renamed_no_relation_reads_back_to_its_hash(tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    schema = synthetic_schema(4)
    store_inputs(run, schema)  # no file: mbre's own JSON of it
    assert run_schema(run.path).sha256 == schema.sha256

    relations = tmp_path / "relations.json"
    relations.write_text(
        json.dumps([{"label": "a", "description": "A."}, {"label": "zero", "description": "0."}])
    )
    chosen = RelationSchema.from_file(relations, no_relation="zero")
    kept = store_inputs(run, chosen, GivenFiles(relations=relations, no_relation="zero"))
    assert (kept.no_relation, (run.path / "relations.json").read_bytes()) == ("zero", relations.read_bytes())
    assert run_schema(run.path).sha256 == chosen.sha256
    assert not (run.path / "seeds.jsonl").exists()
