"""Prompt injection on the embedded model: whatever a sentence tells the model to answer, an answer is one
of the offered option letters (or yes/no), read as a label of the schema, or an abstention."""

from __future__ import annotations

import pytest

from mbre import MbreContext, build_graph
from mbre.llm.structured import parse_choice
from mbre.schemas.answers import YES_NO, option_letters
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES, INJECTIONS, injected

SCHEMA = RelationSchema.from_file(EXAMPLES / "relations.json")


@pytest.mark.llm
def test_injected_sentences_get_labels_from_the_schema_on_the_embedded_model(tmp_path):
    """Text the sentence smuggles in never becomes a label: only an offered letter maps to one."""
    instances = [injected(text, f"inj{i}") for i, text in enumerate(INJECTIONS)]
    ctx = MbreContext(model="local:qwen2.5-coder-0.5b", local_slots=2, cache_path=str(tmp_path / "c.db"))
    graph = build_graph(SCHEMA)
    for instance in instances:
        decision = graph.invoke({"instance": instance}, context=ctx)["decision"]
        assert decision.label is None or decision.label in SCHEMA.labels
        for extraction in decision.extractions:
            letters = option_letters(len(extraction.labels) + 1)
            if extraction.abstained:
                assert extraction.label is None and parse_choice(extraction.raw, letters) is None
            else:
                index = parse_choice(extraction.raw, letters)
                assert index is not None, extraction.raw
                assert extraction.label == [*extraction.labels, None][index]
        for verdict in decision.verdicts:
            assert verdict.abstained or parse_choice(verdict.raw, YES_NO) is not None, verdict.raw
