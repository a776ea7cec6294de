"""`mbre evaluate` and `mbre student` in-process, with the scripted fake model in place of the configured one;
and the SemEval benchmark script on a three-sentence slice."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
import re
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mbre import MbreContext
from mbre.cli.app import app
from mbre.prompts.render import marked_sentence, prompts_hash
from mbre.run import config
from mbre.run.rundir import read_samples
from mbre.schemas.instances import read_instances
from mbre.schemas.results import Decision, Sample
from tests.support.data import PROVENANCE, ROOT, SEMEVAL
from tests.support.fakes import Reply, ScriptedChatModel, is_group_question, options, text_of
from tests.support.fruits import GOLD, GROUPING, SCHEMA, fruit_model, keyword_sentences
from tests.support.lock_holder import start_holder

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def model(monkeypatch) -> ScriptedChatModel:
    """The fake model answers whatever the flags configure."""
    fake = fruit_model()
    real_load_context = config.load_context
    monkeypatch.setattr(
        config,
        "load_context",
        lambda *args, **kwargs: replace(real_load_context(*args, **kwargs), chat_model=fake),
    )
    return fake


@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    relations, grouping, gold = (
        tmp_path / "relations.json",
        tmp_path / "grouping.json",
        tmp_path / "gold.jsonl",
    )
    relations.write_text(json.dumps([r.model_dump(mode="json") for r in SCHEMA.relations]))
    GROUPING.save(grouping)
    gold.write_text("".join(instance.model_dump_json() + "\n" for instance in GOLD))
    return {"relations": relations, "grouping": grouping, "gold": gold}


def evaluate_args(inputs: dict[str, Path], report: Path, *extra: str) -> list[str]:
    files = ["--relations", str(inputs["relations"]), "--grouping", str(inputs["grouping"])]
    return ["evaluate", *files, "--gold", str(inputs["gold"]), "--report-dir", str(report), *extra]


def test_evaluate_writes_the_report_and_prints_the_table(model, inputs, tmp_path):
    report = tmp_path / "report"
    result = runner.invoke(
        app,
        evaluate_args(
            inputs,
            report,
            "--epsilon",
            "0.05",
            "--decision",
            "paper",
            "--strategies",
            "mbre,multiclass,binary",
        ),
    )
    assert result.exit_code == 0, result.output
    assert "4 gold sentences, model ScriptedChatModel" in result.output
    assert re.search(r"binary\s+│\s+0\.750", result.output)
    document = json.loads((report / "report.json").read_text())
    files = document["run"]["files"]
    for role in ("gold", "relations", "grouping"):
        assert files[role]["sha256"] == hashlib.sha256(inputs[role].read_bytes()).hexdigest()
    assert document["setup"]["prompt_hash"] == prompts_hash()
    assert document["setup"]["grouping_hash"] == GROUPING.sha256
    assert document["setup"]["settings"]["epsilon"] == 0.05
    assert [s["strategy"] for s in document["strategies"]] == ["mbre", "multiclass", "binary"]
    # at epsilon 0.05, s2's B (0.97) is kept as before: the scores of test_evaluate
    assert document["strategies"][0]["accuracy"] == 0.75
    for name in ("report.md", "f1_and_calls.png", "epsilon.png", "confusion_mbre.png", "mbre/samples.jsonl"):
        assert (report / name).is_file(), name


def test_epsilons_choose_the_replayed_thresholds(model, inputs, tmp_path):
    report = tmp_path / "report"
    result = runner.invoke(
        app, evaluate_args(inputs, report, "--strategies", "mbre:paper", "--epsilons", "0.3,0.01")
    )
    assert result.exit_code == 0, result.output
    sweep = json.loads((report / "report.json").read_text())["epsilon_sweep"]
    # s4's best verdict (0.86) is kept only once 1 - epsilon <= 0.86 (test_evaluate's fruit run)
    assert [(row["epsilon"], row["kept"]) for row in sweep] == [(0.01, 0.5), (0.3, 1.0)]


def test_limit_and_seed_pick_the_seeded_slice(model, inputs, tmp_path):
    report = tmp_path / "report"
    result = runner.invoke(
        app, evaluate_args(inputs, report, "--limit", "2", "--seed", "3", "--strategies", "multiclass")
    )
    assert result.exit_code == 0, result.output
    chosen = {i.id for i in random.Random(3).sample(GOLD, 2)}
    samples = [
        json.loads(line) for line in (report / "multiclass" / "samples.jsonl").read_text().splitlines()
    ]
    assert {s["id"] for s in samples} == chosen
    setup = json.loads((report / "report.json").read_text())["setup"]
    assert (setup["limit"], setup["seed"], setup["sentences"]) == (2, 3, 2)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            '{"id": "s9", "text": "Ann fig Bob", "head": {"name": "Ann", "start": 0, "end": 3}, '
            '"tail": {"name": "Bob", "start": 8, "end": 11}, "relation": "Fig"}',
            ":3: field 'relation': gold label 'Fig' of sentence 's9' is not in the relation schema",
        ),
        (
            '{"id": "s9", "text": "Ann fig Bob", "head": {"name": "Ann", "start": 0, "end": 3}, '
            '"tail": {"name": "Bob", "start": 8, "end": 11}}',
            ":3: field 'relation': sentence 's9' has no gold label",
        ),
        (
            '{"id": "s9", "text": "Ann fig Bob", "head": {"name": "Anne", "start": 0, "end": 4}, '
            '"tail": {"name": "Bob", "start": 8, "end": 11}, "relation": "A"}',
            ":3: field 'head': span 0..4 reads 'Ann ', not 'Anne'",
        ),
        ("{oops", ":3: not valid JSON"),
    ],
)
def test_bad_gold_exits_2_before_any_call(model, inputs, tmp_path, line, message):
    lines = inputs["gold"].read_text().splitlines()[:2]
    inputs["gold"].write_text("\n".join([*lines, line]) + "\n")
    result = runner.invoke(app, evaluate_args(inputs, tmp_path / "report"))
    assert result.exit_code == 2
    assert f"{inputs['gold']}{message}" in " ".join(result.output.split())
    assert not model.calls and not (tmp_path / "report").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--strategies", "mbre,cheap"], "name distinct strategies from mbre, multiclass, binary"),
        (["--limit", "5"], "--limit must be between 1 and 4"),
        (["--format", "tacred"], "not valid JSON: Extra data"),
        (["--epsilons", "0.1,lots"], "epsilons must be numbers from 0 to 1, comma-separated; got 'lots'"),
    ],
)
def test_bad_options_exit_2(model, inputs, tmp_path, extra, message):
    result = runner.invoke(app, evaluate_args(inputs, tmp_path / "report", *extra))
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not model.calls


def test_evaluate_exits_1_when_sentences_got_no_sample(monkeypatch, inputs, tmp_path):
    def down(messages, schema: str) -> Reply:
        raise ConnectionError("endpoint down")

    fake = ScriptedChatModel(responder=down)
    monkeypatch.setattr(config, "load_context", lambda *a, **k: MbreContext(chat_model=fake))
    report = tmp_path / "report"
    result = runner.invoke(app, evaluate_args(inputs, report, "--strategies", "multiclass"))
    assert result.exit_code == 1
    assert "sentences without a sample (scored as abstentions): multiclass 4" in " ".join(
        result.output.split()
    )
    assert json.loads((report / "report.json").read_text())["strategies"][0]["abstained"] == 1.0


def write_samples(path: Path, samples: list[Sample]) -> Path:
    path.write_text("".join(sample.model_dump_json() + "\n" for sample in samples))
    return path


def write_gold(path: Path, instances) -> Path:
    path.write_text("".join(instance.model_dump_json() + "\n" for instance in instances))
    return path


@pytest.fixture
def student_inputs(tmp_path) -> dict[str, Path]:
    nouns = ["storm", "flood", "spark", "fire", "virus", "fever"]
    discovered = [
        Sample.from_decision(i, Decision(label=i.relation, confidence=None, rule="single"), PROVENANCE)
        for i in keyword_sentences("d", nouns, 10)
    ]
    return {
        "train": write_samples(tmp_path / "samples.jsonl", discovered),
        "test": write_gold(tmp_path / "test.jsonl", keyword_sentences("t", ["quake", "leak"], 6)),
        "gold_train": write_gold(tmp_path / "train.jsonl", keyword_sentences("g", nouns, 20)),
    }


def student_args(inputs: dict[str, Path], report: Path, *extra: str) -> list[str]:
    files = [
        "--train",
        str(inputs["train"]),
        "--test",
        str(inputs["test"]),
        "--gold-train",
        str(inputs["gold_train"]),
    ]
    return ["student", *files, "--report-dir", str(report), *extra]


def test_student_compares_discovered_and_gold_training(student_inputs, tmp_path, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    report = tmp_path / "student"
    result = runner.invoke(app, student_args(student_inputs, report, "--seed", "1"))
    assert result.exit_code == 0, result.output
    assert "students on 6 gold test sentences" in result.output
    assert "│ embeddings │ discovered │" in result.output  # piped, the table is not cut at 80 columns
    document = json.loads((report / "report.json").read_text())
    assert document["no_relation"] == "Other" and document["seed"] == 1  # found among the test labels
    assert document["discovered"]["train_size"] == document["gold"]["train_size"] == 10
    for run in ("discovered", "gold"):  # both students by default
        assert set(document[run]["scores"]) == {"tfidf", "embeddings"}
    assert document["run"]["files"]["gold_train"]["path"] == str(student_inputs["gold_train"])
    assert (report / "report.md").is_file()


def test_student_trains_on_the_labels_the_keep_rule_takes(student_inputs, tmp_path):
    samples = read_samples(student_inputs["train"])
    unsure = [
        s.model_copy(update={"decision": s.decision.model_copy(update={"rule": "below_threshold"})})
        for s in samples[:3]
    ]
    write_samples(student_inputs["train"], [*unsure, *samples[3:]])
    sizes = {}
    for extra in ([], ["--keep", "confident", "--students", "tfidf"]):
        report = tmp_path / "_".join(["student", *extra])
        result = runner.invoke(app, student_args(student_inputs, report, *extra))
        assert result.exit_code == 0, result.output
        document = json.loads((report / "report.json").read_text())
        sizes[document["keep"]] = document["discovered"]["train_size"]
        assert document["gold"]["train_size"] == document["discovered"]["train_size"]
    assert sizes == {"all": 10, "confident": 7}  # confident leaves out the 3 below their threshold


def test_student_reads_a_run_directory(student_inputs, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    student_inputs["train"].rename(run_dir / "samples.jsonl")
    result = runner.invoke(app, student_args({**student_inputs, "train": run_dir}, tmp_path / "student"))
    assert result.exit_code == 0, result.output


def test_a_bad_samples_file_exits_2(student_inputs, tmp_path):
    train = student_inputs["train"]
    train.write_text(train.read_text() + '{"id": "x"}\n')
    result = runner.invoke(app, student_args(student_inputs, tmp_path / "student"))
    assert result.exit_code == 2
    assert f"{train}:11: field 'text': Field required" in " ".join(result.output.split())

    write_samples(train, [])
    result = runner.invoke(app, student_args(student_inputs, tmp_path / "student"))
    assert result.exit_code == 2 and "no samples in the file" in result.output


def test_student_choice_is_checked_before_training(student_inputs, tmp_path):
    report = tmp_path / "student"
    result = runner.invoke(app, student_args(student_inputs, report, "--students", "tfidf,bert"))
    assert result.exit_code == 2 and "got ['tfidf', 'bert']" in " ".join(result.output.split())
    assert not report.exists()
    result = runner.invoke(app, student_args(student_inputs, report, "--students", "tfidf"))
    assert result.exit_code == 0, result.output
    assert set(json.loads((report / "report.json").read_text())["gold"]["scores"]) == {"tfidf"}


def test_a_test_set_without_a_known_no_relation_label_needs_the_flag(student_inputs, tmp_path):
    renamed = [
        i.model_copy(update={"relation": "unrelated" if i.relation == "Other" else i.relation})
        for i in keyword_sentences("t", ["quake", "leak"], 4)
    ]
    inputs = {**student_inputs, "test": write_gold(tmp_path / "renamed.jsonl", renamed)}
    result = runner.invoke(app, student_args(inputs, tmp_path / "student"))
    assert result.exit_code == 2 and "pass --no-relation" in " ".join(result.output.split())
    result = runner.invoke(app, student_args(inputs, tmp_path / "student", "--no-relation", "unrelated"))
    assert result.exit_code == 0, result.output


def load_bench():
    spec = importlib.util.spec_from_file_location("evaluate_gold", ROOT / "bench" / "evaluate_gold.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_runs_the_seeded_semeval_slice(semeval_schema, semeval_test, tmp_path, capsys):
    slice_ = random.Random(0).sample(semeval_test, 3)
    model = ScriptedChatModel(
        responder=lambda messages: Reply(options(messages)[-1][0] if is_group_question(messages) else "No")
    )
    evaluation = load_bench().run(
        SEMEVAL, 3, 0, ["mbre", "multiclass"], MbreContext(chat_model=model), tmp_path, examples=1
    )
    assert evaluation.setup.sentences == 3 and evaluation.setup.seed == 0
    samples = [json.loads(line) for line in (tmp_path / "mbre" / "samples.jsonl").read_text().splitlines()]
    assert {s["id"] for s in samples} == {i.id for i in slice_}
    assert all(s["relation"] == "Other" for s in samples)
    assert [i.relation for i in slice_] == [
        "Entity-Destination(e1,e2)",
        "Component-Whole(e1,e2)",
        "Content-Container(e1,e2)",
    ]
    # everything Other against three relations: nothing right, and the official score says so too
    assert [(r.accuracy, r.semeval_macro_f1) for r in evaluation.strategies] == [(0.0, 0.0), (0.0, 0.0)]
    assert "3 gold sentences" in capsys.readouterr().out
    assert (tmp_path / "report.md").is_file()
    # One example per relation from train, none of them in the slice, shown in the prompts.
    seeds = read_instances(tmp_path / "seeds.jsonl")
    assert sorted(s.relation for s in seeds) == sorted(r.label for r in semeval_schema.positive)
    assert all(s.id.startswith("semeval:train") for s in seeds)
    assert any(marked_sentence(seeds[0]) in text_of(m) for m in model.calls)


def test_evaluate_is_refused_at_once_while_another_process_writes_one_of_its_runs(model, inputs, tmp_path):
    holder = start_holder(tmp_path / "report" / "binary")
    try:
        result = runner.invoke(app, evaluate_args(inputs, tmp_path / "report"))
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / 'report' / 'binary'} is in use by another mbre process (pid {holder.pid})" in (
        " ".join(result.output.split())
    )
    assert not model.calls and not (tmp_path / "report" / "mbre" / "manifest.json").exists()
