"""The relation inventory prepared for labelling: schema, grouping and retrieval index, built once."""

from __future__ import annotations

from dataclasses import dataclass

from mbre.grouping import Grouping, group_relations
from mbre.retrieval import RelationIndex
from mbre.schemas import RelationSchema

#: Group id of the multiclass baseline's single prompt over every label.
ALL_LABELS = -1


@dataclass(frozen=True)
class Inventory:
    schema: RelationSchema
    grouping: Grouping
    index: RelationIndex

    @classmethod
    def build(cls, schema: RelationSchema, grouping: Grouping | None = None) -> Inventory:
        grouping = grouping or group_relations(schema)
        if grouping.schema_hash != schema.sha256:
            raise ValueError("the grouping was made for another relation schema")
        return cls(schema=schema, grouping=grouping, index=RelationIndex(schema, grouping))

    def asked_labels(self, group: int) -> list[str]:
        """The labels a group's prompt offers: its positive relations ("none" stands for the
        no-relation label, so it is not offered twice)."""
        labels = self.schema.labels if group == ALL_LABELS else self.grouping.groups[group]
        return [label for label in labels if label != self.schema.no_relation_label]
