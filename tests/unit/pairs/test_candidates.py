"""Candidate pairs: ordered pairs per sentence, type constraints, the cap, gold labels and the source."""

from __future__ import annotations

import json

import pytest

from mbre.errors import InputError
from mbre.pairs.candidates import PairCounts, make_pairs
from mbre.pairs.constraints import observe, write_typed_schema
from mbre.pairs.documents import Document, read_documents
from mbre.pairs.finders import Found
from mbre.schemas.instances import Span, read_instances
from mbre.schemas.relations import RelationSchema, RelationType
from tests.support.data import CROSSRE

SCHEMA = RelationSchema.build(
    [
        RelationType(
            label="works_for",
            description="The head works for the tail.",
            head_types=("person",),
            tail_types=("org",),
        ),
        RelationType(label="located_in", description="The head is in the tail.", tail_types=("place",)),
        RelationType(label="none", description="No relation.", no_relation=True),
    ]
)


def span(text: str, name: str, kind: str | None) -> Span:
    start = text.index(name)
    return Span(name=name, start=start, end=start + len(name), type=kind)


TEXT = "Ada works for Acme in Paris."
DOCUMENT = Document(
    id="d1",
    text=TEXT,
    line=1,
    entities=(span(TEXT, "Ada", "person"), span(TEXT, "Acme", "org"), span(TEXT, "Paris", "place")),
    relations=(),
    extra={"domain": "news"},
)


def test_pairs_fit_the_types_and_carry_source_gold_and_fields():
    counts = PairCounts()
    lines = list(make_pairs([DOCUMENT], SCHEMA, source="in.jsonl", counts=counts))
    assert [(line["head"]["name"], line["tail"]["name"]) for line in lines] == [
        ("Ada", "Acme"),  # works_for
        ("Ada", "Paris"),  # located_in: any head, a place as tail
        ("Acme", "Paris"),
    ]
    assert (counts.pairs, counts.typed_out, counts.written) == (6, 3, 3)
    first = lines[0]
    assert first["id"] == "d1:0-1" and first["source"] == {"id": "d1", "offset": 0}
    assert first["head"] == {"name": "Ada", "start": 0, "end": 3, "type": "person"}
    assert first["relation"] == "none" and first["domain"] == "news"


def test_an_untyped_inventory_keeps_every_ordered_pair():
    untyped = RelationSchema.build(
        [
            RelationType(label="r", description="The head r the tail."),
            RelationType(label="NA", description="None."),
        ]
    )
    counts = PairCounts()
    assert len(list(make_pairs([DOCUMENT], untyped, source="x", counts=counts))) == 6
    assert counts.typed_out == 0


def test_the_cap_keeps_the_nearest_pairs_in_sentence_order():
    counts = PairCounts()
    lines = list(make_pairs([DOCUMENT], SCHEMA, source="x", max_pairs=2, counts=counts))
    assert [line["id"] for line in lines] == ["d1:0-1", "d1:1-2"]  # Ada-Paris is the farthest
    assert counts.capped == 1


def test_split_sentences_offsets_and_entities_across_a_boundary():
    text = "Ada works for Acme. Acme is in Paris."
    document = Document(
        id="d",
        text=text,
        line=1,
        entities=(
            span(text, "Ada", "person"),
            span(text, "Acme", "org"),
            Span(name="Acme. Acme", start=14, end=24, type="org"),
            Span(name="Acme", start=20, end=24, type="org"),
            span(text, "Paris", "place"),
        ),
    )
    counts = PairCounts()
    lines = list(make_pairs([document], SCHEMA, source="x", split=True, counts=counts))
    assert counts.sentences == 2 and counts.crossing == 1
    second = [line for line in lines if line["source"]["offset"] == 20]
    assert second[0]["text"] == "Acme is in Paris." and second[0]["tail"] == {
        "name": "Paris",
        "start": 11,
        "end": 16,
        "type": "place",
    }


def test_text_without_entities_needs_a_finder_and_uses_it_per_sentence():
    document = Document(id="t", text="Ada works for Acme. Nothing here.", line=3)
    with pytest.raises(InputError) as error:
        list(make_pairs([document], SCHEMA, source="in.txt"))
    assert error.value.line == 3 and "--ner" in error.value.reason

    seen = []

    def finder(sentence: str) -> Found:
        seen.append(sentence)
        found = [
            span(sentence, name, kind)
            for name, kind in (("Ada", "person"), ("Acme", "org"))
            if name in sentence
        ]
        return Found(found, rejected=1)

    counts = PairCounts()
    lines = list(make_pairs([document], SCHEMA, source="in.txt", finder=finder, counts=counts))
    assert seen == ["Ada works for Acme.", "Nothing here."]
    assert [line["id"] for line in lines] == ["t:0-1"] and "relation" not in lines[0]
    assert counts.rejected == 2 and counts.typed_out == 1


@pytest.fixture(scope="module")
def crossre_typed(tmp_path_factory):
    out = tmp_path_factory.mktemp("crossre") / "relations.typed.json"
    schema = RelationSchema.from_file(CROSSRE / "relations.json")
    write_typed_schema(CROSSRE / "relations.json", schema, observe(CROSSRE / "entities" / "train.jsonl"), out)
    return RelationSchema.from_file(out)


def test_on_crossre_every_gold_pair_that_fits_is_kept_and_no_pair_that_fits_none(crossre_typed, tmp_path):
    documents = read_documents(CROSSRE / "entities" / "dev.jsonl")
    counts = PairCounts()
    lines = list(make_pairs(documents, crossre_typed, source="dev", counts=counts))
    kept = {line["id"] for line in lines}
    gold_fits, gold_kept = 0, 0
    for document in documents:
        entities = document.entities or ()
        for relation in document.relations or ():
            head, tail = entities[relation.head], entities[relation.tail]
            if head.start < tail.end and tail.start < head.end:
                continue
            if any(crossre_typed.get(label).admits(head.type, tail.type) for label in relation.labels):
                gold_fits += 1
                gold_kept += f"{document.id}:{relation.head}-{relation.tail}" in kept
    assert gold_fits > 1000 and gold_kept == gold_fits
    for line in lines:
        assert crossre_typed.fitting(line["head"]["type"], line["tail"]["type"])
    assert counts.typed_out > 0 and counts.written == len(lines) == counts.pairs - counts.typed_out
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    instances = read_instances(path)  # discover's reader takes them unchanged
    assert instances[0].head.type is not None and instances[0].extra["source"]["offset"] == 0
