"""Entity types on spans and relations, and heads and tails given by name: what older files and runs read
and hash as before, and what new ones may say."""

from __future__ import annotations

import json

import pytest

from mbre.errors import InputError
from mbre.schemas.instances import Instance, read_instances
from mbre.schemas.relations import RelationSchema
from tests.support.data import SEMEVAL


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_names_without_offsets_are_placed_at_their_one_occurrence(tmp_path):
    path = write(
        tmp_path / "s.jsonl",
        [
            {
                "id": "a",
                "text": "Microsoft hired Ada at Microsoft Research.",
                "head": {"name": "Ada", "type": "person"},
                "tail": {"name": "Microsoft Research", "start": 23, "end": 41},
            },
            {
                "id": "b",
                "text": "Acme sued Initech.",
                "head": "Acme",
                "tail": {"name": "Initech", "type": "org"},
            },
        ],
    )
    first, second = read_instances(path)
    assert (first.head.start, first.head.end, first.head.type) == (16, 19, "person")
    assert (second.head.start, second.tail.start, second.tail.type) == (0, 10, "org")


@pytest.mark.parametrize(
    ("head", "message"),
    [
        ("Google", "'Google' does not occur in the text; give start and end"),
        ("Acme", "'Acme' occurs 2 times in the text (at 0, 14); give start and end"),
        ("Ac", "'Ac' does not occur in the text; give start and end"),  # a whole word, not part of one
    ],
)
def test_an_absent_or_ambiguous_name_is_an_error_naming_the_line(tmp_path, head, message):
    record = {"id": "a", "text": "Acme met Bob; Acme won.", "head": head, "tail": {"name": "Bob"}}
    path = write(
        tmp_path / "s.jsonl", [{**record, "id": "ok", "head": "Bob", "tail": {"name": "won"}}, record]
    )
    with pytest.raises(InputError) as error:
        read_instances(path)
    assert str(error.value) == f"{path}:2: field 'head': {message}"


def test_a_name_outside_the_other_entity_is_unique():
    instance = Instance.model_validate(
        {
            "id": "a",
            "text": "New York is in New York State.",
            "head": {"name": "New York", "start": 0, "end": 8},
            "tail": "New York State",
        }
    )
    assert instance.tail.start == 15


def test_untyped_spans_and_relations_serialise_and_hash_as_before(tmp_path):
    instance = Instance.model_validate(
        {
            "id": "a",
            "text": "Ada met Bob.",
            "head": {"name": "Ada", "start": 0, "end": 3},
            "tail": {"name": "Bob", "start": 8, "end": 11},
        }
    )
    assert "type" not in instance.model_dump_json()
    schema = RelationSchema.from_file(SEMEVAL / "relations.json")
    assert all("head_types" not in r for r in schema.model_dump()["relations"])
    typed = instance.model_copy(update={"head": instance.head.model_copy(update={"type": "person"})})
    assert json.loads(typed.model_dump_json())["head"]["type"] == "person"


def test_declared_types_narrow_the_positive_labels(tmp_path):
    path = tmp_path / "relations.json"
    path.write_text(
        json.dumps(
            [
                {
                    "relation": "works_for",
                    "description": "x",
                    "head_types": ["person"],
                    "tail_types": ["org"],
                },
                {"relation": "part_of", "description": "y", "head_types": ["org"]},
                {"relation": "NA", "description": "z"},
            ]
        )
    )
    schema = RelationSchema.from_file(path)
    assert schema.fitting("person", "org") == ["works_for"]
    assert schema.fitting("org", "org") == ["part_of"]
    assert schema.fitting("place", "place") == []
    assert schema.fitting(None, None) is None
    assert schema.fitting("org", None) == ["part_of"]  # an unknown type fits any declared one
    path.write_text(
        json.dumps(
            [{"relation": "a", "description": "x", "head_types": []}, {"relation": "NA", "description": "z"}]
        )
    )
    with pytest.raises(InputError, match=r"field 'head_types': .*at least one type"):
        RelationSchema.from_file(path)
