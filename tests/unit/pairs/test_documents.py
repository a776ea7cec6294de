"""The inputs `mbre pairs` reads: entity-annotated JSON Lines, CoNLL tags, plain text; and sentence splits."""

from __future__ import annotations

import json

import pytest

from mbre.errors import InputError
from mbre.pairs.documents import read_documents
from mbre.pairs.sentences import split_sentences


def write_lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_an_annotated_line_keeps_its_entities_relations_and_unknown_fields(tmp_path):
    path = write_lines(
        tmp_path / "corpus.jsonl",
        [
            {
                "id": "d1",
                "domain": "news",
                "text": "Ada Lovelace met Babbage in London.",
                "entities": [
                    {"name": "Ada Lovelace", "start": 0, "end": 12, "type": "person"},
                    {"name": "Babbage", "start": 17, "end": 24, "type": "person"},
                ],
                "relations": [{"head": 0, "tail": 1, "labels": ["social"]}],
            }
        ],
    )
    (document,) = read_documents(path)
    assert [e.type for e in document.entities] == ["person", "person"]
    assert document.relations[0].labels == ("social",)
    assert document.extra == {"domain": "news"}


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        (
            {"id": "d", "text": "Ada met Bob.", "entities": [{"name": "Ada", "start": 1, "end": 4}]},
            "entities.0",
            "reads",
        ),
        (
            {
                "id": "d",
                "text": "Ada.",
                "entities": [{"name": "Ada", "start": 0, "end": 3}],
                "relations": [{"head": 0, "tail": 3, "labels": ["x"]}],
            },
            "relations.0",
            "refers to entity 3",
        ),
        ({"id": "d", "text": ""}, "text", "at least 1"),
    ],
)
def test_a_bad_annotated_line_names_its_line_and_field(tmp_path, record, field, message):
    path = write_lines(tmp_path / "bad.jsonl", [{"id": "ok", "text": "Fine."}, record])
    with pytest.raises(InputError) as error:
        read_documents(path)
    assert error.value.line == 2 and error.value.field == field and message in error.value.reason


def test_duplicate_document_ids_are_refused(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", [{"id": "a", "text": "One."}, {"id": "a", "text": "Two."}])
    with pytest.raises(InputError, match="duplicate id 'a' \\(first on line 1\\)"):
        read_documents(path)


CONLL = """-DOCSTART- O

Ada B-PER
Lovelace I-PER
met O
Charles B-PER
Babbage L-PER
. O

They O
worked O
in O
London U-LOC
. O

-DOCSTART- O

Paris B-LOC
"""


def test_conll_tags_become_entities_sentences_and_documents(tmp_path):
    path = tmp_path / "ner.conll"
    path.write_text(CONLL)
    first, second = read_documents(path)
    assert first.id == "ner:1" and second.id == "ner:2"
    assert first.text == "Ada Lovelace met Charles Babbage .\nThey worked in London ."
    assert [(e.name, e.type) for e in first.entities] == [
        ("Ada Lovelace", "PER"),
        ("Charles Babbage", "PER"),
        ("London", "LOC"),
    ]
    assert all(first.text[e.start : e.end] == e.name for e in first.entities)
    assert [first.text[s:e] for s, e in first.sentences] == [
        "Ada Lovelace met Charles Babbage .",
        "They worked in London .",
    ]
    assert [(e.name, e.type) for e in second.entities] == [("Paris", "LOC")]


def test_conll_iob1_and_a_type_change_start_new_entities(tmp_path):
    path = tmp_path / "iob1.txt"
    path.write_text("Bank I-ORG\nof I-ORG\nParis I-LOC\nsaid O\n")
    (document,) = read_documents(path, "conll")
    assert document.id == "iob1"
    assert [(e.name, e.type) for e in document.entities] == [("Bank of", "ORG"), ("Paris", "LOC")]


def test_a_bad_conll_tag_names_its_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("Ada B-PER\nmet X-PER\n")
    with pytest.raises(InputError) as error:
        read_documents(path)
    assert error.value.line == 2 and error.value.field == "tag"


def test_plain_text_is_one_document_named_by_the_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Ada met Babbage. He built engines.\n")
    (document,) = read_documents(path)
    assert (document.id, document.entities) == ("notes", None)


def test_sentences_split_at_stops_but_not_at_initials_or_lower_case():
    text = "J. R. Smith works for Acme Corp. in Paris. He met Brown there!  Then: nothing\n\nNew paragraph"
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert sentences == [
        "J. R. Smith works for Acme Corp. in Paris.",
        "He met Brown there!",
        "Then: nothing",
        "New paragraph",
    ]
