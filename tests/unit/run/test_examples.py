"""`mbre examples` without a server: the model's marked sentences are read, checked by the verifier both
ways round, and the kept ones go into a copy of the relations file that keeps everything else as it was."""

from __future__ import annotations

import json

import pytest

from mbre.graph.context import MbreContext
from mbre.inventory.inventory import Inventory
from mbre.run.examples import read_marked, read_sentences, with_examples, write_examples
from mbre.schemas.relations import RelationSchema, RelationType
from tests.support.fakes import ScriptedChatModel
from tests.support.writing import DOCUMENT, scripted


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("1. <head>Fire</head> causes <tail>smoke</tail>.", ("Fire causes smoke.", "Fire", "smoke")),
        ("- <tail>Apple</tail> makes the <head>iPhone</head>", ("Apple makes the iPhone", "iPhone", "Apple")),
        (
            '"<head>fire</head> and fire cause <tail>smoke</tail>"',
            ("fire and fire cause smoke", "fire", "smoke"),
        ),
        ("no marks at all", None),
        ("<head>only</head> a head", None),
        ("<head>a</head> <head>b</head> <tail>c</tail>", None),
        ("<head>a <tail>b</tail></head> c", None),
        # An example is placed at the first occurrence of its names: a later one would show another span.
        ("fire and <head>fire</head> cause <tail>smoke</tail>", None),
    ],
)
def test_a_marked_sentence_is_read_exactly_as_its_marks_say(line, expected):
    example = read_marked(line)
    assert (example.text, example.head, example.tail) == expected if expected else example is None


def test_an_answer_without_a_marked_sentence_is_unreadable():
    assert read_sentences("Here are some sentences:\nno marks\n") is None
    assert len(read_sentences("intro\n<head>a</head> b <tail>c</tail>\n\n<head>d</head> <tail>e</tail>")) == 2


def test_examples_are_written_for_relations_without_and_kept_the_way_the_verifier_reads_them(tmp_path):
    path = tmp_path / "relations.json"
    path.write_text(json.dumps(DOCUMENT))
    schema = RelationSchema.from_file(path)
    model = ScriptedChatModel(responder=scripted)
    written = write_examples(Inventory.build(schema), MbreContext(chat_model=model), per_relation=2)

    by_label = {w.label: w for w in written}
    made_by, makes, born_in = by_label["made_by"], by_label["makes"], by_label["born_in"]
    # Ford's sentence as marked; Toyota's swapped to read "the Corolla is made by Toyota"; Paris dropped.
    assert [(j.example.head, j.example.tail, j.swapped, j.p_yes) for j in made_by.kept] == [
        ("The Model T", "Ford", False, 0.9),
        ("Corolla", "Toyota", True, 0.8),
    ]
    assert made_by.proposed == 3 and makes.proposed == 1 and len(makes.kept) == 1
    assert all(j.example.generated_by == "ScriptedChatModel" for j in made_by.kept + makes.kept)
    # born_in had one of two: one more asked for; the no-relation label never.
    assert born_in.wanted == 1 and born_in.proposed == 1 and born_in.kept == []
    assert [w.label for w in written] == ["made_by", "makes", "born_in"]
    # One request per relation, two verifications per sentence, all counted.
    assert len(model.calls) == 3 + 2 * 5 == sum(w.usage.calls for w in written)

    out = with_examples(json.loads(path.read_text()), written)
    relations = {r["relation"]: r for r in out["relations"]}
    assert relations["made_by"]["owner"] == "as the user wrote it" and out["no_relation"] == "none_of_these"
    assert relations["made_by"]["examples"][1] == {
        "text": "Toyota builds the Corolla.",
        "head": "Corolla",
        "tail": "Toyota",
        "generated_by": "ScriptedChatModel",
    }
    assert relations["born_in"]["examples"] == DOCUMENT["relations"][2]["examples"]
    assert "examples" not in relations["none_of_these"]
    path.write_text(json.dumps(out))
    again = RelationSchema.from_file(path)  # the new file is a schema discover reads
    assert [e.generated_by for e in again.get("made_by").examples] == ["ScriptedChatModel"] * 2


def test_a_relation_with_enough_examples_costs_no_call():
    schema = RelationSchema.model_validate(
        {"relations": DOCUMENT["relations"][2:], "no_relation_label": "none_of_these"}
    )
    model = ScriptedChatModel(responder=scripted)
    written = write_examples(Inventory.build(schema), MbreContext(chat_model=model))
    assert [(w.label, w.wanted) for w in written] == [("born_in", 0)] and model.calls == []


def test_a_persons_example_hashes_as_before_and_a_written_one_does_not():
    own = {"text": "Ada was born in London.", "head": "Ada", "tail": "London"}

    def schema(example: dict) -> RelationSchema:
        born_in = RelationType(
            label="born_in", description="The head was born in the tail.", examples=[example]
        )
        return RelationSchema.build(
            [born_in, RelationType(label="other", description="No relation.", no_relation=True)]
        )

    assert "generated_by" not in json.dumps(schema(own).model_dump(mode="json"))
    assert schema(own).sha256 != schema({**own, "generated_by": "local"}).sha256
