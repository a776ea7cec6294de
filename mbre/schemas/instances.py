"""Sentences with a marked head and tail entity: the unit of work of the graph."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from mbre.errors import InputError


class Span(BaseModel):
    """An entity mention: character offsets into the text, end exclusive, and its entity type if known."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    start: int = Field(ge=0)
    end: int = Field(gt=0)
    type: str | None = Field(default=None, min_length=1)
    """The entity's type (`person`, `ORG`, ...), as the input or the entity finder gave it; None: unknown."""

    @model_serializer(mode="wrap")
    def _omit_unknown_type(self, handler: SerializerFunctionWrapHandler) -> Any:
        # An untyped span is written as before types existed, so recorded runs and hashes keep their bytes.
        data = handler(self)
        if self.type is None and isinstance(data, dict):
            data.pop("type", None)
        return data


def occurrences(text: str, name: str) -> list[int]:
    """Where `name` occurs in `text` as a whole word (a name that starts or ends with a letter or digit
    must not continue a word there), in order."""
    before = r"(?<!\w)" if re.match(r"\w", name) else ""
    after = r"(?!\w)" if re.search(r"\w$", name) else ""
    return [match.start() for match in re.finditer(before + re.escape(name) + after, text)]


#: The fields a sample adds to its sentence. An input line's own fields of these names would be replaced by
#: mbre's, so they are dropped on reading, not carried through.
OUTPUT_FIELDS = frozenset({"confidence", "confidence_source", "gold", "decision", "provenance"})


class Instance(BaseModel):
    """One sentence to label. `relation`, when present, is a gold label kept for evaluation only. Any other
    field of the input line (`doc_id`, `domain`, ...) is kept as it is (`extra`), never shown to the model,
    and written back into the sentence's sample."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    head: Span
    tail: Span
    relation: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_output_fields(cls, record: Any) -> Any:
        if isinstance(record, dict) and not OUTPUT_FIELDS.isdisjoint(record):
            return {key: value for key, value in record.items() if key not in OUTPUT_FIELDS}
        return record

    @field_validator("id")
    @classmethod
    def _id_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("blank_id", "the id is blank: give each sentence a visible id")
        return value

    @model_validator(mode="before")
    @classmethod
    def _place_named_entities(cls, record: Any) -> Any:
        """A head or tail given by name alone (`"Microsoft"`, or `{"name", "type"}` without offsets) is the
        name's one occurrence in the text, outside the other entity; none or several is an error."""
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            return record
        placed = dict(record)
        for role, other in (("head", "tail"), ("tail", "head")):
            value = placed.get(role)
            if isinstance(value, str):
                value = {"name": value}
            if not isinstance(value, dict) or "start" in value or "end" in value:
                continue
            name = value.get("name")
            if not isinstance(name, str) or not name:
                continue
            taken = placed.get(other)
            found = occurrences(record["text"], name)
            if (
                isinstance(taken, dict)
                and isinstance(taken.get("start"), int)
                and isinstance(taken.get("end"), int)
            ):
                found = [s for s in found if s + len(name) <= taken["start"] or s >= taken["end"]]
            if not found:
                raise _SpanError(role, f"{name!r} does not occur in the text; give start and end")
            if len(found) > 1:
                where = ", ".join(str(start) for start in found)
                raise _SpanError(
                    role, f"{name!r} occurs {len(found)} times in the text (at {where}); give start and end"
                )
            placed[role] = {**value, "start": found[0], "end": found[0] + len(name)}
        return placed

    @property
    def extra(self) -> dict[str, Any]:
        """The input line's fields besides the sentence's own, in file order."""
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _spans_match_text(self) -> Instance:
        for role in ("head", "tail"):
            span: Span = getattr(self, role)
            if span.end > len(self.text):
                raise _SpanError(
                    role,
                    f"span {span.start}..{span.end} is out of range (text has {len(self.text)} characters)",
                )
            if span.start >= span.end:
                raise _SpanError(role, f"span {span.start}..{span.end} is empty")
            found = self.text[span.start : span.end]
            if found != span.name:
                raise _SpanError(role, f"span {span.start}..{span.end} reads {found!r}, not {span.name!r}")
        if self.head.start < self.tail.end and self.tail.start < self.head.end:
            raise _SpanError("tail", "the head and tail spans overlap")
        return self


class _SpanError(ValueError):
    """Raised inside validation; carries the entity role so the error names the field."""

    def __init__(self, role: str, message: str):
        super().__init__(message)
        self.role = role


def parse_instance(record: object, *, source: str, line: int) -> Instance:
    """Validate one decoded JSON record, turning every failure into an InputError with its field."""
    if not isinstance(record, dict):
        raise InputError(source, "expected a JSON object", line=line)
    try:
        return Instance.model_validate(record)
    except ValidationError as exc:
        first = exc.errors()[0]
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, _SpanError):
            raise InputError(source, str(cause), line=line, field=cause.role) from exc
        raise InputError.from_validation(source, exc, line=line) from exc


#: Receives each bad line instead of stopping the read (`--on-bad-input skip`).
OnBadLine = Callable[[InputError], None]


def read_source(path: str | Path) -> bytes:
    """The whole file, read once: a pipe or `/dev/stdin` cannot be read a second time."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read the file: {exc.strerror}") from exc


def iter_jsonl(
    path: str | Path, on_bad: OnBadLine | None = None, *, data: bytes | None = None
) -> Iterator[tuple[int, object]]:
    """Yield (line number, decoded record) for each non-blank line of the file, or of `data` already read
    from it; a BOM is tolerated. A line that is not UTF-8 or not JSON raises, or goes to `on_bad` and is
    skipped."""
    source = str(path)
    if data is None:
        data = read_source(path)
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(
                    source, f"not valid JSON: {exc.msg} (column {exc.colno})", line=number
                ) from exc
        except UnicodeDecodeError as exc:
            error = InputError(source, f"not UTF-8: {exc.reason} at byte {exc.start}", line=number)
            if on_bad is None:
                raise error from exc
            on_bad(error)
            continue
        except InputError as error:
            if on_bad is None:
                raise
            on_bad(error)
            continue
        yield number, record


def read_instances(
    path: str | Path, on_bad: OnBadLine | None = None, *, data: bytes | None = None
) -> list[Instance]:
    """Read and validate a whole JSON Lines file (or `data` read from it) before any LLM call; ids must be
    unique. Without `on_bad` the first bad line stops the read; with it, bad lines are reported and
    skipped. Ids that differ only by surrounding whitespace (`" x"` beside `"x"`) are duplicates: no one
    can tell them apart in a table or a review tool."""
    source = str(path)
    instances: list[Instance] = []
    seen: dict[str, tuple[str, int]] = {}
    for number, record in iter_jsonl(path, on_bad, data=data):
        try:
            instance = parse_instance(record, source=source, line=number)
            key = instance.id.strip()
            if key in seen:
                first, line = seen[key]
                differs = "" if first == instance.id else f", {first!r}: they differ only by spaces"
                raise InputError(
                    source,
                    f"duplicate id {instance.id!r} (first on line {line}{differs})",
                    line=number,
                    field="id",
                )
        except InputError as error:
            if on_bad is None:
                raise
            on_bad(error)
            continue
        seen[key] = (instance.id, number)
        instances.append(instance)
    if not instances:
        raise InputError(source, "no valid sentences in the file" if on_bad else "no sentences in the file")
    return instances
