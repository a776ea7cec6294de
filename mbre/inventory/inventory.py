"""The relation inventory prepared for labelling: schema, grouping and retrieval index, built once; and the
one routing rule that the graph, `mbre plan` and the routing replay all ask."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from mbre.errors import SettingError
from mbre.inventory.demonstrations import Demonstrations
from mbre.inventory.grouping import Grouping, group_relations
from mbre.inventory.retrieval import RelationIndex
from mbre.schemas.instances import Instance
from mbre.schemas.options import Strategy
from mbre.schemas.relations import RelationSchema

#: Group id of the multiclass baseline's single prompt over every label.
ALL_LABELS = -1


@dataclass(frozen=True)
class Routing:
    """Where one sentence's questions go."""

    ranking: list[str]
    """Every positive label, nearest to the sentence first (FAISS retrieval)."""
    groups: list[int]
    """The groups to ask one multi-class question each, nearest first; `[ALL_LABELS]` for the multiclass
    baseline, none for the binary one."""
    offered: list[str] | None = None
    """Type-narrowed: the only positive labels the pair's entity types fit, the only ones offered and
    ranked; None: every label."""


@dataclass(frozen=True)
class Inventory:
    schema: RelationSchema
    grouping: Grouping
    index: RelationIndex
    demonstrations: Demonstrations
    """The examples shown with each relation: the schema's own and the seeds'."""

    @classmethod
    def build(
        cls,
        schema: RelationSchema,
        grouping: Grouping | None = None,
        *,
        seeds: Sequence[Instance] = (),
        seeds_source: str = "seeds",
    ) -> Inventory:
        grouping = grouping or group_relations(schema)
        if grouping.schema_hash != schema.sha256:
            raise SettingError("the grouping was made for another relation schema")
        return cls(
            schema=schema,
            grouping=grouping,
            index=RelationIndex(schema, grouping),
            demonstrations=Demonstrations(schema, seeds, source=seeds_source),
        )

    @cached_property
    def fingerprint(self) -> tuple[str, str]:
        """The schema's and the examples' hashes, computed once: a prior is looked up by them for every
        question asked (`mbre.graph.calibration`)."""
        return self.schema.sha256, self.demonstrations.sha256

    def asked_labels(self, group: int, offered: Sequence[str] | None = None) -> list[str]:
        """The labels a group's prompt offers: its positive relations ("none" stands for the
        no-relation label, so it is not offered twice), only those in `offered` when the types narrow."""
        labels = self.schema.labels if group == ALL_LABELS else self.grouping.groups[group]
        return [
            label
            for label in labels
            if label != self.schema.no_relation_label and (offered is None or label in offered)
        ]

    def groups_to_ask(
        self, instance: Instance, strategy: Strategy, top_k: int | None = None, *, narrow: bool = False
    ) -> Routing:
        """Which groups a sentence is asked about under `strategy`: for M-BRe every group that offers a
        label (the paper), nearest first, or with `top_k` only the groups of the `top_k` nearest relations.
        With `narrow`, a pair whose entity types are known is offered only the relations they fit."""
        ranking = self.index.rank(instance)
        offered = self.schema.fitting(instance.head.type, instance.tail.type) if narrow else None
        if offered is not None:
            ranking = [(label, score) for label, score in ranking if label in offered]
        if strategy == "mbre":
            groups = [g for g in self.index.route(ranking, top_k) if self.asked_labels(g, offered)]
        elif strategy == "multiclass":
            groups = [ALL_LABELS] if self.asked_labels(ALL_LABELS, offered) else []
        else:  # binary: no multi-class step, every label goes to verification
            groups = []
        return Routing(ranking=[label for label, _ in ranking], groups=groups, offered=offered)
