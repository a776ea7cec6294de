"""Candidate pairs: each ordered pair of two different entities of one sentence becomes a line of discover's
input, unless the entities' types fit no relation of the inventory or the sentence's cap is reached."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mbre.errors import InputError
from mbre.pairs.documents import Document
from mbre.pairs.finders import EntityFinder
from mbre.pairs.sentences import split_sentences
from mbre.schemas.instances import Span
from mbre.schemas.relations import RelationSchema
from mbre.schemas.results import Usage
from mbre.schemas.table import Rows


@dataclass
class PairCounts:
    """What `make_pairs` saw and kept, for its summary."""

    documents: int = 0
    sentences: int = 0
    entities: int = 0
    crossing: int = 0
    """Annotated entities across a sentence boundary (`--split-sentences`), left out."""
    rejected: int = 0
    """Entities the model named that its sentence does not hold, left out."""
    overlapping: int = 0
    """Ordered pairs of two entities that share characters (nested annotations), left out."""
    pairs: int = 0
    """Ordered pairs of two different, disjoint entities of one sentence, before the type constraints."""
    typed_out: int = 0
    """Pairs whose entity types fit no positive relation."""
    capped: int = 0
    """Pairs beyond `--max-pairs` in their sentence."""
    written: int = 0
    usage: Usage = field(default_factory=Usage)
    """What the model's entity finder spent."""

    def rows(self, title: str) -> Rows:
        figures = [
            ("documents", self.documents),
            ("sentences", self.sentences),
            ("entities", self.entities),
            ("pairs before the type constraints", self.pairs),
            ("dropped: types fit no relation", self.typed_out),
            ("pairs after the type constraints", self.pairs - self.typed_out),
            ("dropped: over --max-pairs", self.capped),
            ("pairs written", self.written),
        ]
        figures += [
            (name, value)
            for name, value in (
                ("entities across sentences, left out", self.crossing),
                ("entities not in the text, left out", self.rejected),
                ("overlapping pairs, left out", self.overlapping),
                ("LLM calls", self.usage.calls),
                ("prompt tokens", self.usage.prompt_tokens),
            )
            if value
        ]
        rows = [[name, str(value)] for name, value in figures]
        per_sentence = self.written / self.sentences if self.sentences else 0.0
        rows.append(["pairs per sentence", f"{per_sentence:.2f}"])
        return Rows(title=title, headers=["", "count"], rows=rows)


def make_pairs(
    documents: list[Document],
    schema: RelationSchema,
    *,
    source: str,
    finder: EntityFinder | None = None,
    split: bool = False,
    max_pairs: int | None = None,
    counts: PairCounts | None = None,
) -> Iterator[dict[str, Any]]:
    """The candidate lines of every document, in document, sentence, head and tail order. Annotated
    documents are one sentence each unless `split`; text without entities is split and goes to `finder`."""
    counts = counts if counts is not None else PairCounts()
    for document in documents:
        if document.entities is None and finder is None:
            raise InputError(
                source,
                "the document has no entities: give them (`entities`), or an entity finder with --ner",
                line=document.line,
                field="entities",
            )
    for document in documents:
        counts.documents += 1
        yield from _document_pairs(document, schema, finder, split, max_pairs, counts)


def _document_pairs(
    document: Document,
    schema: RelationSchema,
    finder: EntityFinder | None,
    split: bool,
    max_pairs: int | None,
    counts: PairCounts,
) -> Iterator[dict[str, Any]]:
    if document.sentences is not None:
        sentences = list(document.sentences)
    elif document.entities is not None and not split:
        sentences = [(0, len(document.text))]
    else:
        sentences = split_sentences(document.text)
    gold = _gold(document)
    counts.crossing += sum(
        not any(start <= e.start and e.end <= end for start, end in sentences)
        for e in document.entities or ()
    )
    numbered = 0
    for start, end in sentences:
        counts.sentences += 1
        text = document.text[start:end]
        if document.entities is not None:
            inside = [
                (index, Span(name=e.name, start=e.start - start, end=e.end - start, type=e.type))
                for index, e in enumerate(document.entities)
                if start <= e.start and e.end <= end
            ]
        else:
            assert finder is not None  # make_pairs refused documents without entities or a finder
            found = finder(text)
            counts.rejected += found.rejected
            counts.usage = counts.usage + found.usage
            inside = list(enumerate(found.entities, start=numbered))
            numbered += len(found.entities)
        counts.entities += len(inside)
        inside.sort(key=lambda item: (item[1].start, item[1].end))
        kept = []
        for head_index, head in inside:
            for tail_index, tail in inside:
                if head_index == tail_index:
                    continue
                if head.start < tail.end and tail.start < head.end:
                    counts.overlapping += 1
                    continue
                counts.pairs += 1
                if schema.fitting(head.type, tail.type) == []:
                    counts.typed_out += 1
                    continue
                kept.append((head_index, head, tail_index, tail))
        if max_pairs is not None and len(kept) > max_pairs:
            nearest = sorted(range(len(kept)), key=lambda i: _gap(kept[i][1], kept[i][3]))[:max_pairs]
            counts.capped += len(kept) - max_pairs
            kept = [kept[i] for i in sorted(nearest)]
        for head_index, head, tail_index, tail in kept:
            counts.written += 1
            line: dict[str, Any] = {
                "id": f"{document.id}:{head_index}-{tail_index}",
                "text": text,
                "head": head.model_dump(),
                "tail": tail.model_dump(),
            }
            if gold is not None:
                labels = gold.get((head_index, tail_index), {schema.no_relation_label})
                if len(labels) == 1:
                    line["relation"] = next(iter(labels))
            line["source"] = {"id": document.id, "offset": start}
            yield line | {key: value for key, value in document.extra.items() if key not in line}


def _gold(document: Document) -> dict[tuple[int, int], set[str]] | None:
    """The annotated labels of each ordered entity pair; None when the input annotates no relations."""
    if document.relations is None:
        return None
    labels: dict[tuple[int, int], set[str]] = {}
    for relation in document.relations:
        labels.setdefault((relation.head, relation.tail), set()).update(relation.labels)
    return labels


def _gap(head: Span, tail: Span) -> int:
    """Characters between two disjoint entities: the cap keeps the nearest pairs, the likelier related."""
    return max(head.start, tail.start) - min(head.end, tail.end)
