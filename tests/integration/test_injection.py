"""Prompt injection on the embedded model: its JSON-schema grammar keeps every label in the schema."""

from __future__ import annotations

import json

import pytest

from mbre import MbreContext, build_graph
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES, INJECTIONS, injected

SCHEMA = RelationSchema.from_file(EXAMPLES / "relations.json")


@pytest.mark.llm
def test_injected_sentences_get_labels_from_the_schema_on_the_embedded_model(tmp_path):
    """The server's JSON-schema grammar holds the enum whatever the sentence says."""
    instances = [injected(text, f"inj{i}") for i, text in enumerate(INJECTIONS)]
    ctx = MbreContext(model="local:qwen2.5-coder-0.5b", local_slots=2, cache_path=str(tmp_path / "c.db"))
    graph = build_graph(SCHEMA)
    for instance in instances:
        decision = graph.invoke({"instance": instance}, context=ctx)["decision"]
        assert decision.label is None or decision.label in SCHEMA.labels
        for extraction in decision.extractions:
            answered = json.loads(extraction.raw)["label"]
            assert answered in [*extraction.labels, "none"], extraction.raw
