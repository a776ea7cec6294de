"""Label Studio files without a server: the config asks one question per sentence over every label, tasks
carry what the import needs, and a malformed export is refused with its task and field."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from mbre.cli.app import app
from mbre.dataset.labelstudio import (
    LabelStudioExportError,
    choices_of,
    label_config,
    marked_html,
    read_export,
    to_task,
)
from mbre.dataset.selection import doubt
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES
from tests.support.samples import SAMPLES

runner = CliRunner()
SCHEMA = RelationSchema.from_file(EXAMPLES / "relations.json")
BY_ID = {sample.id: sample for sample in SAMPLES}


def exported_task(mbre_id: str, *annotations: dict) -> dict:
    """A task as Label Studio's JSON export gives it back."""
    return {"id": 40, **to_task(BY_ID[mbre_id], doubt(BY_ID[mbre_id])), "annotations": list(annotations)}


def answer(label: str, *, updated: str = "2026-01-01T00:00:00Z", cancelled: bool = False) -> dict:
    result = [
        {"from_name": "relation", "to_name": "sentence", "type": "choices", "value": {"choices": [label]}}
    ]
    return {"result": [] if cancelled else result, "was_cancelled": cancelled, "updated_at": updated}


def test_the_config_offers_every_label_with_its_definition():
    root = ET.fromstring(label_config(choices_of(SCHEMA, SAMPLES)))
    choices = root.find("Choices")
    assert (
        choices is not None and choices.get("choice") == "single-radio" and choices.get("required") == "true"
    )
    assert [c.get("value") for c in choices] == SCHEMA.labels
    assert choices[0].get("hint") == SCHEMA.relations[0].description
    objects = {
        element.get("name"): element.get("value")
        for element in root
        if element.get("value", "").startswith("$")
    }
    assert objects[choices.get("toName")] == "$html"
    task = to_task(SAMPLES[0], doubt(SAMPLES[0]))
    assert {value[1:] for value in objects.values()} <= task["data"].keys()
    assert task["predictions"][0]["score"] == 0.97


def test_without_a_schema_the_choices_are_the_labels_the_run_offered():
    choices = choices_of(None, SAMPLES)
    assert choices == [
        (label, None)
        for label in ["born_in", "ceo_of", "employee_of", "founded_by", "lives_in", "no_relation"]
    ]
    assert "hint" not in label_config(choices)


def test_the_sentence_is_escaped_and_its_entities_marked():
    sample = BY_ID["s-script"]
    html = marked_html(sample.text, sample.head, sample.tail)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp; Co." in html
    assert "Marco Ferri<sub>head</sub>" in html and "Bologna<sub>tail</sub>" in html


def test_an_abstention_has_no_prediction():
    assert "predictions" not in to_task(BY_ID["s-abstained"], doubt(BY_ID["s-abstained"]))


def test_the_latest_answer_counts_and_skipped_tasks_are_left_out(tmp_path):
    export = tmp_path / "export.json"
    tasks = [
        exported_task("s-low", answer("employee_of", updated="2026-01-02T00:00:00Z"), answer("ceo_of")),
        exported_task("s-sure", answer("x", cancelled=True)),
        exported_task("s-none"),
    ]
    export.write_text(json.dumps(tasks))
    instances, unanswered = read_export(export)
    assert [(i.id, i.relation) for i in instances] == [("s-low", "employee_of")]
    assert instances[0].head == BY_ID["s-low"].head and unanswered == 2


@pytest.mark.parametrize(
    ("task", "field"),
    [
        ({"id": 40, "annotations": []}, "data"),
        ({**exported_task("s-low", answer("ceo_of")), "data": {"text": "x"}}, "data.mbre_id"),
        (exported_task("s-low", {"result": [], "was_cancelled": False}), "annotations[0].result"),
        (exported_task("s-low", {"result": {"relation": "x"}}), "annotations[0].result"),
        (
            exported_task("s-low", {"result": [{"from_name": "relation", "value": {"choices": []}}]}),
            "annotations[0].result[0].value.choices",
        ),
    ],
)
def test_a_malformed_task_is_named_with_its_field(tmp_path, task, field):
    export = tmp_path / "export.json"
    export.write_text(json.dumps([exported_task("s-sure", answer("founded_by")), task]))
    with pytest.raises(LabelStudioExportError) as caught:
        read_export(export)
    assert caught.value.task == 2 and caught.value.field == field
    assert str(caught.value).startswith(f"{export}: task 2 (Label Studio id 40): field '{field}': ")


def test_a_span_that_does_not_match_is_named(tmp_path):
    task = exported_task("s-low", answer("ceo_of"))
    task["data"]["head"]["start"] += 1
    export = tmp_path / "export.json"
    export.write_text(json.dumps([task]))
    with pytest.raises(
        LabelStudioExportError,
        match=r"task 1 \(Label Studio id 40\): field 'data.head': span 1..13 reads 'atya Nadella'",
    ):
        read_export(export)


def test_the_command_reports_a_malformed_export_in_one_line(tmp_path):
    export = tmp_path / "export.json"
    export.write_text(json.dumps({"tasks": []}))
    result = runner.invoke(app, ["review", "import", str(export), "--out", str(tmp_path / "r.jsonl")])
    assert result.exit_code == 2
    assert "not Label Studio's JSON export: expected a list of tasks" in result.output
