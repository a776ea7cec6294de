"""Relation types and the relation inventory that the whole pipeline is built for."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
)

from mbre.errors import InputError, pydantic_field
from mbre.schemas.answers import NONE_LABEL

#: Names recognised as the no-relation label when the schema file does not mark one.
NO_RELATION_NAMES = ("Other", "NA", "no_relation", "no relation", "None", "NONE")


class RelationExample(BaseModel):
    """One demonstration sentence for a relation, shown in the extraction prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1)
    head: str = Field(min_length=1, description="The head entity as it is written in `text`.")
    tail: str = Field(min_length=1, description="The tail entity as it is written in `text`.")
    generated_by: str | None = None
    """The model that wrote the example (`mbre examples`); None for one a person wrote."""

    @model_serializer(mode="wrap")
    def _omit_unless_generated(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A person's example hashes as it did before generated examples existed: its runs still match.
        data = handler(self)
        if isinstance(data, dict) and self.generated_by is None:
            data.pop("generated_by", None)
        return data


class RelationType(BaseModel):
    """A relation label with the definition that the prompts show to the model."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    label: str = Field(min_length=1, validation_alias=AliasChoices("label", "relation"))
    name: str | None = None
    description: str = Field(min_length=1, validation_alias=AliasChoices("description", "definition"))
    examples: tuple[RelationExample, ...] = ()
    no_relation: bool = False
    """True for the label that means "none of the others holds"."""
    inverse: str | None = None
    """The label of the same relation with head and tail swapped, if the inventory has it. Two labels
    that share a `name` are each other's inverse without it."""
    head_types: tuple[str, ...] | None = None
    """The entity types the head may have; None: any type."""
    tail_types: tuple[str, ...] | None = None
    """The entity types the tail may have; None: any type."""

    @field_validator("label", "description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("head_types", "tail_types")
    @classmethod
    def _types_named(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or any(not t.strip() for t in value)):
            raise ValueError("must list at least one type, none of them empty")
        return value

    @model_serializer(mode="wrap")
    def _omit_undeclared_types(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A schema without types hashes as it did before types existed: its runs and groupings still match.
        data = handler(self)
        if isinstance(data, dict):
            for key in ("head_types", "tail_types"):
                if getattr(self, key) is None:
                    data.pop(key, None)
        return data

    def admits(self, head_type: str | None, tail_type: str | None) -> bool:
        """Whether a pair of these types can hold this relation; an unknown type fits any."""
        return (head_type is None or self.head_types is None or head_type in self.head_types) and (
            tail_type is None or self.tail_types is None or tail_type in self.tail_types
        )


class RelationSchema(BaseModel):
    """The fixed relation inventory: positive relations plus exactly one no-relation label."""

    model_config = ConfigDict(frozen=True)

    relations: tuple[RelationType, ...]
    no_relation_label: str
    _source: str = PrivateAttr(default="<schema>")

    @property
    def source(self) -> str:
        """Where the schema came from (its file), for errors about it; not part of its hash."""
        return self._source

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.relations]

    @property
    def positive(self) -> list[RelationType]:
        """The relations a sentence can be labelled with, in file order."""
        return [r for r in self.relations if r.label != self.no_relation_label]

    @property
    def typed(self) -> bool:
        """Whether some relation declares the entity types it takes."""
        return any(r.head_types is not None or r.tail_types is not None for r in self.relations)

    def fitting(self, head_type: str | None, tail_type: str | None) -> list[str] | None:
        """The positive labels a pair of these entity types can hold, in file order; None when types narrow
        nothing (the inventory declares none, or the pair's types are unknown)."""
        if not self.typed or (head_type is None and tail_type is None):
            return None
        return [r.label for r in self.positive if r.admits(head_type, tail_type)]

    def inverse_of(self, label: str) -> str | None:
        """The label with head and tail swapped: the relation's own `inverse`, else the one other
        positive label with the same `name`; None when the inventory has no such label."""
        relation = self.get(label)
        if relation.inverse is not None:
            return relation.inverse
        if relation.name is None or label == self.no_relation_label:
            return None
        twins = [r.label for r in self.positive if r.name == relation.name and r.label != label]
        return twins[0] if len(twins) == 1 and self.get(twins[0]).inverse in (None, label) else None

    def get(self, label: str) -> RelationType:
        for relation in self.relations:
            if relation.label == label:
                return relation
        raise KeyError(label)

    @property
    def sha256(self) -> str:
        """Content hash, recorded in every sample's provenance."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    @classmethod
    def build(
        cls,
        relations: list[RelationType],
        *,
        no_relation: str | None = None,
        source: str = "<schema>",
        lines: Sequence[int] | None = None,
    ) -> RelationSchema:
        """Validate the inventory as a whole: some relations, unique labels, one no-relation label, and no
        relation named like the answer "none". `lines` are the entries' lines in `source`, for errors."""

        def line_of(index: int) -> int | None:
            return lines[index] if lines is not None and index < len(lines) else None

        if not relations:
            raise InputError(source, "the list of relation types is empty", field="relations")
        seen: dict[str, int] = {}
        for index, relation in enumerate(relations):
            if relation.label in seen:
                raise InputError(
                    source,
                    f"duplicate label {relation.label!r} (entry {index + 1}; first at entry "
                    f"{seen[relation.label] + 1})",
                    line=line_of(index),
                    field="label",
                )
            seen[relation.label] = index
        for index, relation in enumerate(relations):
            if relation.inverse is not None and relation.inverse not in seen:
                raise InputError(
                    source,
                    f"the inverse {relation.inverse!r} of {relation.label!r} (entry {index + 1}) is not a "
                    "label of the schema",
                    line=line_of(index),
                    field="inverse",
                )
        chosen = _pick_no_relation(relations, no_relation, source)
        for index, relation in enumerate(relations):
            if relation.label.lower() == NONE_LABEL and relation.label != chosen:
                raise InputError(
                    source,
                    f"the label {relation.label!r} is reserved: the prompts offer {NONE_LABEL!r} as the "
                    'answer "none of these", so this relation could never be chosen. Rename it, or mark it '
                    'as the no-relation label ("no_relation": true)',
                    line=line_of(index),
                    field="label",
                )
        relations = [r.model_copy(update={"no_relation": r.label == chosen}) for r in relations]
        if len(relations) < 2:
            raise InputError(source, "needs at least one relation besides the no-relation label")
        schema = cls(relations=tuple(relations), no_relation_label=chosen)
        schema._source = source
        return schema

    @classmethod
    def from_file(cls, path: str | Path, *, no_relation: str | None = None) -> RelationSchema:
        """Load a JSON list of relation types, or an object {"relations": [...], "no_relation": ...}."""
        path = Path(path)
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise InputError(source, f"cannot read the file: {exc.strerror}") from exc
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(source, f"not valid JSON: {exc.msg}", line=exc.lineno) from exc
        if isinstance(document, dict):
            if not isinstance(document.get("relations"), list):
                raise InputError(source, "expected a list of relation types", line=1, field="relations")
            no_relation = no_relation or document.get("no_relation")
            match = re.search(r'"relations"\s*:\s*\[', text)
            starts = item_offsets(text, match.end() - 1 if match else 0)
            items = document["relations"]
        elif isinstance(document, list):
            starts = item_offsets(text, text.index("["))
            items = document
        else:
            raise InputError(source, "expected a JSON list of relation types", line=1)
        relations = []
        lines = [_line_of(text, start) for start in starts]
        for index, item in enumerate(items):
            start = starts[index] if index < len(starts) else 0
            if not isinstance(item, dict):
                raise InputError(source, "a relation type must be a JSON object", line=_line_of(text, start))
            try:
                relations.append(RelationType.model_validate(item))
            except ValidationError as exc:
                first = exc.errors()[0]
                field = pydantic_field(first["loc"])
                key = text.find(f'"{first["loc"][0]}"', start) if first["loc"] else -1
                line = _line_of(text, key if key >= 0 else start)
                message = first["msg"].removeprefix("Value error, ")
                raise InputError(source, message, line=line, field=field) from exc
        return cls.build(relations, no_relation=no_relation, source=source, lines=lines)


def _pick_no_relation(relations: list[RelationType], requested: str | None, source: str) -> str:
    labels = [r.label for r in relations]
    if requested is not None:
        if requested not in labels:
            raise InputError(source, f"the no-relation label {requested!r} is not among the labels {labels}")
        return requested
    marked = [r.label for r in relations if r.no_relation]
    if len(marked) > 1:
        raise InputError(source, f"more than one label is marked no_relation: {marked}", field="no_relation")
    if marked:
        return marked[0]
    for name in NO_RELATION_NAMES:
        if name in labels:
            return name
    raise InputError(
        source,
        'no no-relation label: mark one with "no_relation": true, pass --no-relation LABEL, or use one of '
        f"{', '.join(NO_RELATION_NAMES)}",
        field="no_relation",
    )


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def item_offsets(text: str, open_bracket: int) -> list[int]:
    """Where each element of the JSON array starting at `open_bracket` begins."""
    decoder = json.JSONDecoder()
    offsets: list[int] = []
    index = open_bracket + 1
    while True:
        while index < len(text) and text[index] in " \t\r\n,":
            index += 1
        if index >= len(text) or text[index] == "]":
            return offsets
        offsets.append(index)
        _, index = decoder.raw_decode(text, index)
