"""`mbre examples` on the real embedded model (the 0.5B one: a plumbing check, not a quality one): the
model's sentences go through the verifier and the file written is a schema whose every written example
reads its names in its text and names the model that wrote it."""

from __future__ import annotations

import json
import re

import pytest

from mbre.schemas.relations import RelationSchema
from tests.support.processes import run_mbre

pytestmark = pytest.mark.llm

RELATIONS = [
    {"relation": "born_in", "description": "The head, a person, was born in the tail, a place."},
    {"relation": "other", "description": "No relation holds.", "no_relation": True},
]


def test_the_embedded_model_writes_examples_into_a_new_schema(tmp_path):
    relations, out = tmp_path / "relations.json", tmp_path / "with-examples.json"
    relations.write_text(json.dumps(RELATIONS))
    result = run_mbre(
        "examples",
        "--relations",
        str(relations),
        "--out",
        str(out),
        "--sentences",
        "2",
        "--model",
        "local:qwen2.5-coder-0.5b",
        cache=tmp_path / "cache.sqlite",
    )
    assert result.returncode == 0, result.stderr
    assert "examples written by local:qwen2.5-coder-0.5b" in result.stdout
    assert int(re.search(r"(\d+) LLM calls", result.stderr)[1]) >= 2  # writing, then checks or a re-ask
    schema = RelationSchema.from_file(out)
    assert json.loads(relations.read_text()) == RELATIONS
    for example in schema.get("born_in").examples:
        assert example.generated_by == "local:qwen2.5-coder-0.5b"
        assert example.head in example.text and example.tail in example.text
