"""Deriving head_types / tail_types from labelled examples into a relation schema."""

from __future__ import annotations

import json

from mbre.pairs.constraints import observe, write_typed_schema
from mbre.schemas.relations import RelationSchema


def test_types_come_from_either_kind_of_labelled_file_and_keep_the_schema_as_written(tmp_path):
    schema_file = tmp_path / "relations.json"
    schema_file.write_text(
        json.dumps(
            [
                {"relation": "works_for", "description": "The head works for the tail.", "note": "kept"},
                {"relation": "born_in", "description": "The head was born in the tail."},
                {"relation": "NA", "description": "Nothing."},
            ]
        )
    )
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        json.dumps(
            {
                "id": "c1",
                "text": "Ada works for Acme and Bob for Initech.",
                "entities": [
                    {"name": "Ada", "start": 0, "end": 3, "type": "person"},
                    {"name": "Acme", "start": 14, "end": 18, "type": "org"},
                    {"name": "Bob", "start": 23, "end": 26, "type": "person"},
                    {"name": "Initech", "start": 31, "end": 38, "type": "company"},
                ],
                "relations": [
                    {"head": 0, "tail": 1, "labels": ["works_for"]},
                    {"head": 2, "tail": 3, "labels": ["works_for"]},
                ],
            }
        )
        + "\n"
    )
    sentences = tmp_path / "train.jsonl"
    sentences.write_text(
        json.dumps(
            {
                "id": "s1",
                "text": "Ada works for Acme.",
                "head": {"name": "Ada", "type": "person"},
                "tail": {"name": "Acme", "type": "org"},
                "relation": "works_for",
            }
        )
        + "\n"
    )
    schema = RelationSchema.from_file(schema_file)
    out = tmp_path / "typed.json"
    chosen = write_typed_schema(schema_file, schema, observe(corpus), out)
    assert chosen == {"works_for": (["person"], ["company", "org"]), "born_in": None}
    written = json.loads(out.read_text())
    assert written[0] == {
        "relation": "works_for",
        "description": "The head works for the tail.",
        "note": "kept",
        "head_types": ["person"],
        "tail_types": ["company", "org"],
    }
    assert "head_types" not in written[1]
    typed = RelationSchema.from_file(out)
    assert typed.fitting("person", "company") == ["works_for", "born_in"]
    assert typed.fitting("org", "person") == ["born_in"]
    assert write_typed_schema(schema_file, schema, observe(sentences), out, min_count=2) == {
        "works_for": None,
        "born_in": None,
    }
    observed = observe(sentences)
    assert observed.allowed("works_for") == (["person"], ["org"])
