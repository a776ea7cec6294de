"""Relation grouping (M-BRe step 1): split the labels into K groups of mutually dissimilar relations.

Dissimilar relations in one multi-class prompt are easy to tell apart, so each group's prompt stays
accurate while K prompts (instead of N binary ones) cover the whole inventory.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from mbre.errors import InputError, SettingError
from mbre.files import write_atomic
from mbre.inventory.tfidf import Tfidf, cosine_similarity
from mbre.schemas.relations import RelationSchema

#: The paper's group size: K = floor(N / 6).
LABELS_PER_GROUP = 6


class Grouping(BaseModel):
    """The grouping artifact: deterministic for a schema, identified by its content hash."""

    model_config = ConfigDict(frozen=True)

    schema_hash: str
    groups: tuple[tuple[str, ...], ...]
    anchors: tuple[str, ...] = Field(validation_alias=AliasChoices("anchors", "seeds"))
    """The most dissimilar pair of relations that started the first two groups (empty when K = 1). Named
    `anchors`, not seeds, as `--seeds` names example sentences; artifacts saved as "seeds" still load."""
    refined: bool = True
    """Whether the swap pass ran after the paper's greedy placement (see `group_relations`)."""

    @property
    def k(self) -> int:
        return len(self.groups)

    @property
    def sha256(self) -> str:
        payload = json.dumps(
            {"schema": self.schema_hash, "groups": self.groups, "refined": self.refined}, sort_keys=True
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def group_of(self, label: str) -> int:
        for index, group in enumerate(self.groups):
            if label in group:
                return index
        raise KeyError(label)

    def save(self, path: str | Path) -> None:
        document = {"sha256": self.sha256, **self.model_dump(mode="json")}
        write_atomic(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: str | Path, schema: RelationSchema) -> Grouping:
        """Load a saved grouping, refusing one that was made for another schema or was edited."""
        source = str(path)
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(source, f"cannot read the grouping: {exc}") from exc
        if not isinstance(document, dict) or "groups" not in document:
            raise InputError(source, "not a grouping artifact: save one with mbre group --out FILE")
        recorded = document.pop("sha256", None)
        try:
            grouping = cls.model_validate(document)
        except ValidationError as exc:
            raise InputError.from_validation(source, exc) from exc
        if grouping.schema_hash != schema.sha256:
            raise InputError(
                source, "this grouping was made for another relation schema", field="schema_hash"
            )
        if recorded != grouping.sha256:
            raise InputError(source, "the groups do not match the recorded hash (edited?)", field="sha256")
        if sorted(label for group in grouping.groups for label in group) != sorted(schema.labels):
            raise InputError(source, "the groups are not a partition of the schema's labels", field="groups")
        return grouping


def description_similarity(schema: RelationSchema) -> np.ndarray:
    """Cosine similarity of the TF-IDF vectors of the relation descriptions (N x N)."""
    return cosine_similarity(Tfidf([r.description for r in schema.relations]).matrix)


def default_k(n_labels: int) -> int:
    return max(1, n_labels // LABELS_PER_GROUP)


def group_relations(schema: RelationSchema, k: int | None = None, *, refine: bool = True) -> Grouping:
    """Greedy grouping of the paper: start from the most dissimilar pair (the anchors), then always make
    the placement whose highest similarity to the group's current members is lowest, keeping sizes
    balanced.

    The greedy order places easy relations first, so the balance bound can force the last ones into a
    group beside their near twins (on SemEval both directions of Cause-Effect end up together, cosine 1.0).
    `refine` then swaps members between groups while that lowers the total within-group similarity; the
    anchors stay put and sizes do not change. `refine=False` gives the paper's placement exactly."""
    labels = schema.labels
    n = len(labels)
    k = default_k(n) if k is None else k
    if not 1 <= k <= n:
        raise SettingError(f"the number of groups must be between 1 and {n}, not {k}")
    if k == 1:
        return Grouping(schema_hash=schema.sha256, groups=(tuple(labels),), anchors=(), refined=refine)

    similarity = description_similarity(schema)
    masked = similarity + np.eye(n) * 10.0  # never pick a label as its own most dissimilar partner
    first, second = np.unravel_index(int(np.argmin(masked)), masked.shape)
    members: list[list[int]] = [[int(first)], [int(second)]] + [[] for _ in range(k - 2)]
    placed = {int(first), int(second)}
    # Groups beyond the two anchors start from the label least similar to everything placed so far.
    for group in members[2:]:
        free = [i for i in range(n) if i not in placed]
        start = min(free, key=lambda i: (max(similarity[i, j] for j in placed), i))
        group.append(start)
        placed.add(start)

    small, extra = divmod(n, k)  # `extra` groups get small + 1 members, the rest exactly `small`
    while len(placed) < n:
        full = sum(len(g) == small + 1 for g in members)
        best: tuple[float, int, int] | None = None
        for i in range(n):
            if i in placed:
                continue
            for g, group in enumerate(members):
                if len(group) > small or (len(group) == small and full >= extra):
                    continue
                score = max(similarity[i, j] for j in group)
                if best is None or (score, i, g) < best:
                    best = (score, i, g)
        assert best is not None  # capacities add up to n, so a free slot always exists
        _, i, g = best
        members[g].append(i)
        placed.add(i)

    if refine:
        _swap_until_stable(members, similarity, frozen={int(first), int(second)})
    groups = tuple(tuple(labels[i] for i in sorted(group)) for group in members)
    anchors = (labels[int(first)], labels[int(second)])
    return Grouping(schema_hash=schema.sha256, groups=groups, anchors=anchors, refined=refine)


def _swap_until_stable(members: list[list[int]], similarity: np.ndarray, frozen: set[int]) -> None:
    """Best-improvement swaps of two labels between two groups, until no swap lowers the summed
    within-group similarity. Deterministic: the first best swap in index order wins."""
    while True:
        best: tuple[float, int, int, int, int] | None = None
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                for i in members[a]:
                    for j in members[b]:
                        if i in frozen or j in frozen:
                            continue
                        rest_a = [x for x in members[a] if x != i]
                        rest_b = [y for y in members[b] if y != j]
                        delta = (
                            similarity[j, rest_a].sum()
                            - similarity[i, rest_a].sum()
                            + similarity[i, rest_b].sum()
                            - similarity[j, rest_b].sum()
                        )
                        if delta < -1e-9 and (best is None or delta < best[0]):
                            best = (float(delta), a, b, i, j)
        if best is None:
            return
        _, a, b, i, j = best
        members[a][members[a].index(i)] = j
        members[b][members[b].index(j)] = i
