"""FAISS retrieval of the relations nearest to a sentence, and so of the groups worth asking."""

from __future__ import annotations

import faiss
import numpy as np

from mbre.inventory.grouping import Grouping
from mbre.inventory.tfidf import Tfidf
from mbre.schemas.instances import Instance
from mbre.schemas.relations import RelationSchema


def _relation_document(schema: RelationSchema, label: str) -> str:
    relation = schema.get(label)
    words = [relation.name or label, relation.description]
    words += [example.text for example in relation.examples]
    return " ".join(words)


def normalised(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32 for FAISS: their inner product is then cosine similarity."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    faiss.normalize_L2(vectors)
    return vectors


class RelationIndex:
    """An inner-product index over L2-normalised TF-IDF vectors of the positive relations.

    Inner product of normalised vectors is cosine similarity, so a search ranks relations by how much
    of their vocabulary the sentence shares. Ties keep schema order, so routing is deterministic.
    """

    def __init__(self, schema: RelationSchema, grouping: Grouping):
        self.grouping = grouping
        self.labels = [r.label for r in schema.positive]
        self._tfidf = Tfidf([_relation_document(schema, label) for label in self.labels], sublinear_tf=True)
        vectors = normalised(self._tfidf.matrix)
        self._index = faiss.IndexFlatIP(vectors.shape[1])
        self._index.add(vectors)

    def rank(self, instance: Instance) -> list[tuple[str, float]]:
        """Every positive relation with its similarity to the sentence, nearest first."""
        query = normalised(self._tfidf.transform(instance.text))
        scores, ids = self._index.search(query, len(self.labels))
        pairs = sorted(
            zip(ids[0].tolist(), scores[0].tolist(), strict=True), key=lambda p: (-round(p[1], 6), p[0])
        )
        return [(self.labels[i], float(score)) for i, score in pairs]

    def route(self, ranking: list[tuple[str, float]], top_k: int | None = None) -> list[int]:
        """Groups to ask for a sentence's `rank`ing, in order of their nearest relation; with `top_k`,
        only the groups that hold the `top_k` nearest relations (fewer calls, some recall lost)."""
        if top_k is not None:
            ranking = ranking[:top_k]
        order: list[int] = []
        for label, _ in ranking:
            group = self.grouping.group_of(label)
            if group not in order:
                order.append(group)
        if top_k is None:  # a group holding only the no-relation label is still part of "all"
            order += [g for g in range(self.grouping.k) if g not in order]
        return order
