"""Type constraints from labelled examples: the entity types each relation's head and tail had, written
into the relation inventory as `head_types` and `tail_types` for `pairs` and type-narrowed questions."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mbre.files import write_atomic
from mbre.pairs.documents import read_jsonl
from mbre.schemas.instances import iter_jsonl, read_instances, read_source
from mbre.schemas.relations import RelationSchema


@dataclass
class ObservedTypes:
    """How often each (head type, tail type) was seen with each label."""

    heads: dict[str, Counter[str]] = field(default_factory=dict)
    tails: dict[str, Counter[str]] = field(default_factory=dict)
    examples: Counter[str] = field(default_factory=Counter)
    untyped: int = 0
    """Labelled pairs whose head or tail has no type, not counted."""

    def add(self, label: str, head_type: str | None, tail_type: str | None) -> None:
        if head_type is None or tail_type is None:
            self.untyped += 1
            return
        self.examples[label] += 1
        self.heads.setdefault(label, Counter())[head_type] += 1
        self.tails.setdefault(label, Counter())[tail_type] += 1

    def allowed(self, label: str, min_count: int = 1) -> tuple[list[str], list[str]] | None:
        """The head and tail types seen at least `min_count` times with `label`, sorted; None if unseen."""
        if label not in self.examples:
            return None
        heads = sorted(t for t, n in self.heads[label].items() if n >= min_count)
        tails = sorted(t for t, n in self.tails[label].items() if n >= min_count)
        return (heads, tails) if heads and tails else None


def observe(path: Path) -> ObservedTypes:
    """The typed labelled pairs of a file: an entity-annotated corpus with `relations` (as `pairs` reads),
    or sentences in discover's input format with `relation` and typed `head` and `tail`."""
    data = read_source(path)
    first = next(iter_jsonl(path, data=data), None)
    observed = ObservedTypes()
    if first is not None and isinstance(first[1], dict) and "entities" in first[1]:
        for document in read_jsonl(path, data):
            entities = document.entities or ()
            for relation in document.relations or ():
                head, tail = entities[relation.head], entities[relation.tail]
                for label in set(relation.labels):
                    observed.add(label, head.type, tail.type)
    else:
        for instance in read_instances(path, data=data):
            if instance.relation is not None:
                observed.add(instance.relation, instance.head.type, instance.tail.type)
    return observed


def write_typed_schema(
    schema_file: Path, schema: RelationSchema, observed: ObservedTypes, out: Path, *, min_count: int = 1
) -> dict[str, tuple[list[str], list[str]] | None]:
    """Write the schema file to `out` with each positive relation's observed types added (its other fields
    as they were); a relation without typed examples is left open to any type. Returns label -> types."""
    document = json.loads(schema_file.read_text(encoding="utf-8-sig"))
    entries: list[Any] = document["relations"] if isinstance(document, dict) else document
    chosen: dict[str, tuple[list[str], list[str]] | None] = {}
    for entry in entries:
        label = str(entry.get("label", entry.get("relation", ""))).strip()
        if label == schema.no_relation_label:
            continue
        chosen[label] = types = observed.allowed(label, min_count)
        if types is not None:
            entry["head_types"], entry["tail_types"] = types
        else:
            entry.pop("head_types", None)
            entry.pop("tail_types", None)
    write_atomic(out, json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    return chosen
