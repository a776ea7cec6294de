"""Every reader of a run directory takes what a killed run leaves (a torn last line in any of its JSON Lines
files) as unfinished work, with one warning that the next discover repairs it, and reads a doubled sample
once; two different samples for one id are refused with both lines."""

from __future__ import annotations

import json
import logging

import pytest
from typer.testing import CliRunner

from mbre import MbreContext
from mbre.cli.app import app
from mbre.errors import InputError
from mbre.inventory.inventory import Inventory
from mbre.run.discover import discover
from mbre.run.rundir import RunDir, read_samples
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES
from tests.support.fakes import ScriptedChatModel, content_free, gold_model, gold_reply, instance_in, text_of
from tests.support.samples import SAMPLES, write_run

SCHEMA = RelationSchema.from_file(EXAMPLES / "relations.json")
SENTENCES = read_instances(EXAMPLES / "sentences.jsonl")
TORN = "the last line is unfinished (a run was stopped while writing it) and is skipped; the next"


def tear(path, fraction: float = 0.5) -> None:
    """Cut the file inside its last line, as a kill in the middle of a write would."""
    data = path.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(data[: start + int((len(data) - start) * fraction)])


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_torn_last_line_of_any_run_file_is_skipped_with_one_warning(tmp_path, caplog):
    discover(
        Inventory.build(SCHEMA),
        SENTENCES[:3],
        MbreContext(chat_model=gold_model(SCHEMA, SENTENCES)),
        tmp_path,
    )
    run = RunDir(tmp_path)
    run.append_failure("x1", "endpoint down")
    run.append_failure("x2", "endpoint down")
    run.append_timing(1, 1.0, 4, 0)
    for file in (run.samples_file, run.failures_file, run.timing_file):
        tear(file)
    with caplog.at_level(logging.WARNING):
        assert len(run.samples()) == 2 and len(run.finished_ids()) == 2
        assert list(run.failures()) == ["x1"]
        assert len(run.timings()) == 1
    found = warnings_of(caplog)
    assert found[0] == f"{run.samples_file}:3: {TORN} `mbre discover` of this run directory repairs it"
    assert len(found) == 5 and all(TORN in message for message in found)  # one per read of a file


def test_the_next_discover_repairs_torn_files_and_asks_the_torn_sentence_again(tmp_path, caplog):
    down = {SENTENCES[3].id, SENTENCES[4].id}

    def failing(messages):
        if not content_free(messages) and instance_in(text_of(messages), SENTENCES).id in down:
            raise ConnectionError("endpoint down")
        return gold_reply(messages, SCHEMA, SENTENCES)

    inventory = Inventory.build(SCHEMA)
    first = discover(
        inventory,
        SENTENCES[:5],
        MbreContext(chat_model=ScriptedChatModel(responder=failing)),
        tmp_path,
        concurrency=1,
    )
    assert set(first.failed) == down
    run = RunDir(tmp_path)
    tear(run.samples_file)  # the third sample
    tear(run.failures_file)  # the second failure
    with caplog.at_level(logging.WARNING):
        summary = discover(
            inventory, SENTENCES[:5], MbreContext(chat_model=gold_model(SCHEMA, SENTENCES)), tmp_path
        )
    assert warnings_of(caplog) == []  # repaired before anything reads them
    assert summary.resumed == 2 and summary.sentences == 2 and summary.failed_earlier == 1
    assert run.samples_file.read_text().endswith("}\n") and run.failures_file.read_text().endswith("}\n")
    assert list(run.failures()) == [SENTENCES[3].id]
    assert sorted(run.finished_ids()) == sorted(s.id for s in SENTENCES[:3] + SENTENCES[4:5])


def test_a_whole_last_record_without_its_newline_is_kept_and_ended(tmp_path):
    discover(
        Inventory.build(SCHEMA),
        SENTENCES[:2],
        MbreContext(chat_model=gold_model(SCHEMA, SENTENCES)),
        tmp_path,
    )
    run = RunDir(tmp_path)
    run.samples_file.write_bytes(run.samples_file.read_bytes().rstrip(b"\n"))  # edited by hand
    assert len(run.samples()) == 2
    model = gold_model(SCHEMA, SENTENCES)
    assert (
        discover(Inventory.build(SCHEMA), SENTENCES[:2], MbreContext(chat_model=model), tmp_path).resumed == 2
    )
    assert all(content_free(m) for m in model.calls) and run.samples_file.read_text().endswith("}\n")


def test_a_doubled_sample_is_read_once_with_a_warning_and_two_different_ones_are_refused(tmp_path, caplog):
    write_run(tmp_path)
    lines = (tmp_path / "samples.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "samples.jsonl").write_text("".join(lines + lines[:2]))
    with caplog.at_level(logging.WARNING):
        samples = read_samples(tmp_path / "samples.jsonl")
    assert [s.id for s in samples] == [s.id for s in SAMPLES]
    assert RunDir(tmp_path).finished_ids() == {s.id for s in SAMPLES}  # the resume reads them alike
    first = SAMPLES[0].id
    warned = (
        f"{tmp_path / 'samples.jsonl'}: 2 lines repeat a sample already read (e.g. id {first!r} on lines 1 "
        f"and {len(lines) + 1}): each sample is read once"
    )
    assert warnings_of(caplog) == [warned, warned]  # once per read: the samples, then the ids
    respelled = json.dumps(json.loads(lines[1]), separators=(",", ":"))  # the same record, spaced otherwise
    (tmp_path / "samples.jsonl").write_text("".join(lines) + respelled + "\n")
    assert [s.id for s in read_samples(tmp_path / "samples.jsonl")] == [s.id for s in SAMPLES]
    other = json.loads(lines[0]) | {"relation": "ceo_of"}
    (tmp_path / "samples.jsonl").write_text("".join(lines) + json.dumps(other) + "\n")
    with pytest.raises(InputError, match="two different samples"):
        RunDir(tmp_path).finished_ids()
    with pytest.raises(InputError) as info:
        read_samples(tmp_path / "samples.jsonl")
    assert str(info.value) == (
        f"{tmp_path / 'samples.jsonl'}:{len(lines) + 1}: field 'id': two different samples for id {first!r}, "
        f"on lines 1 and {len(lines) + 1}: keep the right one"
    )


@pytest.mark.parametrize(
    "command",
    [
        lambda run, out: ["view", run],
        lambda run, out: ["review", "export", run, "--out", out],
        lambda run, out: ["export", run, "--format", "jsonl", "--out", out],
    ],
    ids=["view", "review", "export"],
)
def test_the_commands_that_read_a_run_skip_its_torn_line_and_its_doubles(tmp_path, command):
    run = write_run(tmp_path / "run")
    lines = (run / "samples.jsonl").read_text().splitlines(keepends=True)
    (run / "samples.jsonl").write_text("".join([*lines, lines[0], lines[1][:30]]))
    result = CliRunner().invoke(app, command(str(run), str(tmp_path / "out")))
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert output.count("is unfinished") == 1 and output.count("repeat a sample already read") == 1
    if (tmp_path / "out" / "train.jsonl").exists():  # export: each sentence once
        exported = [
            json.loads(line)["id"] for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()
        ]
        assert len(set(exported)) == len(exported)
