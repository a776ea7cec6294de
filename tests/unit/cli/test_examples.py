"""`mbre examples` end to end over HTTP: the model behind a loopback OpenAI-compatible server writes and
verifies examples, and the file it goes to is a schema whose demonstrations discover shows."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mbre.cli.app import app
from mbre.inventory.inventory import Inventory
from mbre.schemas.relations import RelationSchema
from tests.support.openai_stub import stub_server
from tests.support.writing import DOCUMENT, scripted

runner = CliRunner()


def test_written_examples_go_to_a_new_relations_file_that_discover_reads(tmp_path):
    relations, out = tmp_path / "relations.json", tmp_path / "with-examples.json"
    relations.write_text(json.dumps(DOCUMENT, indent=2))
    before = relations.read_bytes()
    with stub_server(scripted) as server:
        result = runner.invoke(
            app,
            [
                "examples",
                "--relations",
                str(relations),
                "--out",
                str(out),
                "--per-relation",
                "2",
                "--model",
                "openai:stub-model",
                "--base-url",
                server.base_url,
            ],
        )
    assert result.exit_code == 0, result.output
    assert "confidence: logprobs" in result.output
    assert "made_by: 2 of 2 kept (2 of 3 sentences accepted, 1 of them turned round)" in result.output
    assert "2 examples still missing" in result.output  # makes wrote one sentence; born_in.s was refused
    assert relations.read_bytes() == before
    schema = RelationSchema.from_file(out)
    written = list(schema.get("made_by").examples)
    assert [(e.text, e.generated_by) for e in written] == [
        ("The Model T was built by Ford.", "openai:stub-model"),
        ("Toyota builds the Corolla.", "openai:stub-model"),
    ]
    shown = {d.text for d in Inventory.build(schema).demonstrations.examples}
    assert {"The Model T was built by Ford.", "Sony makes the Walkman.", "Ada was born in London."} <= shown
    # Asked at temperature 0 with the token probabilities the verifications read.
    assert all(r["body"].get("temperature", 0) == 0 for r in server.requests)


def test_the_relations_file_is_never_overwritten(tmp_path):
    relations = tmp_path / "relations.json"
    relations.write_text(json.dumps(DOCUMENT))
    result = runner.invoke(app, ["examples", "--relations", str(relations), "--out", str(relations)])
    assert result.exit_code == 2 and "write to a new file" in result.output
    assert json.loads(relations.read_text()) == DOCUMENT
