"""Demonstrations: labelled sentences shown with each relation, as the paper shows one example per relation.

They come from the schema's own `examples` and from a seed file of labelled sentences (`--seeds`). A
question shows, for each relation it offers, the `shots` examples of that relation nearest to the sentence
(TF-IDF cosine over a FAISS inner-product index), nearest first. A relation with no more examples than
`shots` shows the same ones for every sentence, so the prompt's prefix stays the same and the server reuses
it; more seeds than shots buy closer examples at the price of that reuse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import faiss

from mbre.errors import InputError
from mbre.inventory.retrieval import normalised
from mbre.inventory.tfidf import Tfidf
from mbre.schemas.instances import Instance, Span
from mbre.schemas.relations import RelationExample, RelationSchema


def example_instance(example: RelationExample, label: str, number: int) -> Instance:
    """A schema example as a labelled sentence: the head at its first occurrence, the tail at its first
    occurrence outside the head."""
    text, head, tail = example.text, example.head, example.tail
    start = text.find(head)
    tail_start = text.find(tail, start + len(head)) if start >= 0 else -1
    if tail_start < 0 and start >= 0:
        tail_start = text.find(tail)
        if tail_start >= 0 and tail_start < start + len(head) and start < tail_start + len(tail):
            tail_start = -1
    if start < 0 or tail_start < 0:
        missing = "head" if start < 0 else "tail"
        raise InputError(
            f"example {number} of {label!r}",
            f"{missing} {getattr(example, missing)!r} is not written in the example's text",
            field=f"examples.{missing}",
        )
    return Instance(
        id=f"example:{label}:{number}",
        text=text,
        head=Span(name=head, start=start, end=start + len(head)),
        tail=Span(name=tail, start=tail_start, end=tail_start + len(tail)),
        relation=label,
    )


class Demonstrations:
    """The examples of every positive relation, and the search for those nearest a sentence."""

    def __init__(self, schema: RelationSchema, seeds: Sequence[Instance] = (), *, source: str = "seeds"):
        pool = [
            example_instance(example, relation.label, number)
            for relation in schema.positive
            for number, example in enumerate(relation.examples, start=1)
        ]
        positive = {relation.label for relation in schema.positive}
        for seed in seeds:
            if seed.relation is None or seed.relation not in schema.labels:
                raise InputError(
                    source,
                    f"seed {seed.id!r} needs a relation of the schema, not {seed.relation!r}",
                    field="relation",
                )
            if seed.relation in positive:  # the no-relation label is the answer "none": not shown
                pool.append(seed)
        self.examples: tuple[Instance, ...] = tuple(pool)
        self._by_label: dict[str, list[int]] = {}
        for position, example in enumerate(pool):
            self._by_label.setdefault(str(example.relation), []).append(position)
        self._tfidf: Tfidf | None = None
        self._index: faiss.IndexFlatIP | None = None
        if pool:
            self._tfidf = Tfidf([example.text for example in pool], sublinear_tf=True)
            vectors = normalised(self._tfidf.matrix)
            self._index = faiss.IndexFlatIP(vectors.shape[1])
            self._index.add(vectors)

    @property
    def sha256(self) -> str:
        """Content hash of the examples, recorded in provenance: other seeds, other prompts."""
        digest = hashlib.sha256()
        for example in self.examples:
            digest.update(example.model_dump_json().encode("utf-8") + b"\n")
        return digest.hexdigest()

    def __len__(self) -> int:
        return len(self.examples)

    def for_labels(self, labels: Sequence[str], instance: Instance, shots: int) -> list[Instance]:
        """For each label in turn, its `shots` examples nearest to `instance`, nearest first."""
        if shots <= 0 or self._index is None or self._tfidf is None:
            return []
        wanted = [label for label in labels if label in self._by_label]
        if all(len(self._by_label[label]) <= shots for label in wanted):  # no choice to make: no search
            return [self.examples[i] for label in wanted for i in self._by_label[label]]
        query = normalised(self._tfidf.transform(instance.text))
        _, ids = self._index.search(query, len(self.examples))
        rank = {int(i): r for r, i in enumerate(ids[0].tolist()) if i >= 0}
        chosen = []
        for label in wanted:
            nearest = sorted(self._by_label[label], key=lambda i: (rank.get(i, len(rank)), i))
            chosen += [self.examples[i] for i in nearest[:shots]]
        return chosen
