"""The review round trip against a real Label Studio on loopback: a project made with mbre's labelling
config, the exported tasks imported with their predictions, answers submitted through its API (one task
skipped), its JSON export read back by `mbre review import`, and the result accepted as gold data."""

from __future__ import annotations

import json

import httpx
import pytest
from label_studio_sdk import LabelStudio
from typer.testing import CliRunner

from mbre.cli.app import app
from mbre.evaluation.gold import load_gold
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES
from tests.support.label_studio import label_studio
from tests.support.samples import SAMPLES, write_run

runner = CliRunner()
#: What the reviewer answers, by mbre id; the task not listed here is skipped.
ANSWERS = {
    "s-ambiguous": "born_in",
    "s-abstained": "employee_of",
    "s-low": "ceo_of",
    "s-disagree": "employee_of",
}
SKIPPED = "s-none"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with label_studio(tmp_path_factory.mktemp("label-studio")) as running:
        yield running


def test_reviewed_labels_come_back_as_submitted(server, tmp_path):
    run, review = write_run(tmp_path / "run"), tmp_path / "review"
    relations = EXAMPLES / "relations.json"
    result = runner.invoke(
        app,
        [
            "review",
            "export",
            str(run),
            "--relations",
            str(relations),
            "--select",
            "uncertain",
            "--limit",
            "5",
            "--out",
            str(review),
        ],
    )
    assert result.exit_code == 0, result.output
    tasks = json.loads((review / "tasks.json").read_text())
    assert {task["data"]["mbre_id"] for task in tasks} == {*ANSWERS, SKIPPED}

    client = LabelStudio(
        base_url=server.url, api_key=server.token, httpx_client=httpx.Client(trust_env=False)
    )
    config = (review / "label_config.xml").read_text()
    project = client.projects.create(title="mbre review", label_config=config, model_version="mbre")
    imported = client.projects.import_tasks(id=project.id, request=tasks, return_task_ids=True)
    assert imported.task_count == len(tasks)
    labelled = sum(sample.relation is not None for sample in SAMPLES if sample.id in {*ANSWERS, SKIPPED})
    assert imported.prediction_count == labelled  # mbre's label rides along wherever it has one
    # As a reviewer works: the labelling stream hands out the next task, mbre's label pre-selected.
    stream = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Token {server.token}"}, trust_env=False
    )
    originals = {sample.id: sample for sample in SAMPLES}
    handed_out = []
    for _ in tasks:
        task = stream.get(f"/api/projects/{project.id}/next").raise_for_status().json()
        mbre_id = task["data"]["mbre_id"]
        handed_out.append(mbre_id)
        preselected = [p["result"][0]["value"]["choices"][0] for p in task["predictions"]]
        label = originals[mbre_id].relation
        assert preselected == ([] if label is None else [label])
        if mbre_id == "s-low":  # scored by its confidence, to sort by
            assert task["predictions"][0]["score"] == pytest.approx(0.61)
        if mbre_id == SKIPPED:
            client.annotations.create(id=task["id"], result=[], was_cancelled=True)
            continue
        choice = {"choices": [ANSWERS[mbre_id]]}
        result_item = {"from_name": "relation", "to_name": "sentence", "type": "choices", "value": choice}
        client.annotations.create(id=task["id"], result=[result_item], was_cancelled=False)
    assert sorted(handed_out) == sorted([*ANSWERS, SKIPPED])

    export = tmp_path / "export.json"
    export.write_text(json.dumps(client.projects.exports.as_json(project.id)))

    reviewed = tmp_path / "reviewed.jsonl"
    result = runner.invoke(app, ["review", "import", str(export), "--out", str(reviewed)])
    assert result.exit_code == 0, result.output
    assert "1 tasks without a submitted answer" in " ".join(result.output.split())
    schema = RelationSchema.from_file(relations)
    gold = load_gold(reviewed, labels=schema.labels)  # what `mbre evaluate --gold` reads
    assert {instance.id: instance.relation for instance in gold} == ANSWERS
    assert all(
        (i.text, i.head, i.tail) == (originals[i.id].text, originals[i.id].head, originals[i.id].tail)
        for i in gold
    )


def test_push_then_pull_needs_no_clicks_and_never_shows_the_key(server, tmp_path, monkeypatch):
    run = write_run(tmp_path / "run")
    relations = EXAMPLES / "relations.json"
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", server.token)
    push = ["review", "push", str(run), "--url", server.url, "--relations", str(relations), "--limit"]
    result = runner.invoke(app, [*push, "4"])
    assert result.exit_code == 0, result.output
    assert "4 tasks added, 0 there already" in " ".join(result.output.split())
    recorded = json.loads((run / "review.json").read_text())
    client = LabelStudio(
        base_url=server.url, api_key=server.token, httpx_client=httpx.Client(trust_env=False)
    )
    project = client.projects.get(id=recorded["project"])
    assert project.title == "mbre: run" and recorded["url"] == server.url
    assert project.model_version == "mbre"  # pre-labels from mbre's predictions
    schema = RelationSchema.from_file(relations)
    assert all(f'value="{label}"' in project.label_config for label in schema.labels)

    # A second push updates the same project and adds only the sentence it lacks.
    result = runner.invoke(app, [*push, "5"])
    assert result.exit_code == 0, result.output
    assert "1 tasks added, 4 there already" in " ".join(result.output.split())
    assert json.loads((run / "review.json").read_text())["project"] == project.id
    tasks = list(client.tasks.list(project=project.id))
    assert sorted(task.data["mbre_id"] for task in tasks) == sorted([*ANSWERS, SKIPPED])
    originals = {sample.id: sample for sample in SAMPLES}
    for task in tasks:
        mbre_id = task.data["mbre_id"]
        predictions = client.predictions.list(task=task.id)
        label = originals[mbre_id].relation
        assert [p.result[0]["value"]["choices"][0] for p in predictions] == ([] if label is None else [label])
        assert [p.model_version for p in predictions] == (["mbre"] if label else [])
        if mbre_id == SKIPPED:
            client.annotations.create(id=task.id, result=[], was_cancelled=True)
            continue
        choice = {"choices": [ANSWERS[mbre_id]]}
        item = {"from_name": "relation", "to_name": "sentence", "type": "choices", "value": choice}
        client.annotations.create(id=task.id, result=[item], was_cancelled=False)

    result = runner.invoke(app, ["review", "pull", str(run), "--url", server.url])
    assert result.exit_code == 0, result.output
    assert "1 tasks without a submitted answer" in " ".join(result.output.split())
    gold = load_gold(run / "reviewed.jsonl", labels=schema.labels)  # as `review import` writes it
    assert {instance.id: instance.relation for instance in gold} == ANSWERS
    for text in (result.output, (run / "review.json").read_text(), (run / "reviewed.jsonl").read_text()):
        assert server.token not in text

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "not-the-token-000")
    refused = runner.invoke(app, ["review", "pull", str(run), "--url", server.url])
    assert refused.exit_code == 2
    assert len(refused.output.strip().splitlines()) == 1 and "answered 401" in refused.output
