"""The three kinds of input `mbre pairs` reads, as documents: entity-annotated JSON Lines, CoNLL token files
with BIO or BILOU tags, and plain text (a text file, or JSON Lines of `{"id", "text"}`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mbre.errors import InputError
from mbre.schemas.instances import Span, iter_jsonl, read_source
from mbre.schemas.options import PairsInput


@dataclass(frozen=True)
class GoldRelation:
    """An annotated relation between two of a document's entities, by their index in `entities`."""

    head: int
    tail: int
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Document:
    """One input line or file: its text, and its entities when the input has them."""

    id: str
    text: str
    line: int
    """Where the document starts in its file, for errors."""
    entities: tuple[Span, ...] | None = None
    """Offsets into `text`; None: the text still needs an entity finder (`--ner`)."""
    sentences: tuple[tuple[int, int], ...] | None = None
    """(start, end) of each sentence when the input fixes them (CoNLL); None: the text decides."""
    relations: tuple[GoldRelation, ...] | None = None
    """The gold relations between `entities`, when the input annotates them (`"relations"`)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """The input line's fields `pairs` does not know, carried into every pair as they were."""


class _Relation(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    head: int = Field(ge=0)
    tail: int = Field(ge=0)
    labels: tuple[str, ...] = Field(min_length=1)


class _Line(BaseModel):
    """An input line: the sentence or document, and the entities and gold relations if annotated."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    entities: tuple[Span, ...] | None = None
    relations: tuple[_Relation, ...] | None = None


def read_documents(path: Path, input_format: PairsInput = "auto") -> list[Document]:
    """Every document of the file, checked whole before any pair is made; ids unique."""
    data = read_source(path)
    if input_format == "auto":
        input_format = _guess(path, data)
    if input_format == "conll":
        documents = read_conll(path, data)
    elif input_format == "text":
        text = _decode(path, data)
        documents = [Document(id=path.stem, text=text, line=1)] if text.strip() else []
    else:
        documents = read_jsonl(path, data)
    if not documents:
        raise InputError(str(path), "no documents in the file")
    return documents


def _guess(path: Path, data: bytes) -> PairsInput:
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if path.suffix.lower() in (".conll", ".conllu", ".bio", ".iob", ".bilou"):
        return "conll"
    return "jsonl" if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "text"


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(str(path), f"not UTF-8: {exc.reason}", line=line) from exc


def read_jsonl(path: Path, data: bytes) -> list[Document]:
    source = str(path)
    documents: list[Document] = []
    seen: dict[str, int] = {}
    for number, record in iter_jsonl(path, data=data):
        if not isinstance(record, dict):
            raise InputError(source, "expected a JSON object", line=number)
        try:
            parsed = _Line.model_validate(record)
        except ValidationError as exc:
            raise InputError.from_validation(source, exc, line=number) from exc
        if parsed.id in seen:
            raise InputError(
                source,
                f"duplicate id {parsed.id!r} (first on line {seen[parsed.id]})",
                line=number,
                field="id",
            )
        seen[parsed.id] = number
        entities = parsed.entities
        for index, entity in enumerate(entities or ()):
            found = parsed.text[entity.start : entity.end]
            if found != entity.name:
                raise InputError(
                    source,
                    f"span {entity.start}..{entity.end} reads {found!r}, not {entity.name!r}",
                    line=number,
                    field=f"entities.{index}",
                )
        relations = []
        for index, relation in enumerate(parsed.relations or ()):
            if entities is None or max(relation.head, relation.tail) >= len(entities):
                raise InputError(
                    source,
                    f"refers to entity {max(relation.head, relation.tail)}, but the line has "
                    f"{len(entities or ())} entities",
                    line=number,
                    field=f"relations.{index}",
                )
            relations.append(GoldRelation(relation.head, relation.tail, relation.labels))
        known = {"id", "text", "entities"} | ({"relations"} if parsed.relations is not None else set())
        documents.append(
            Document(
                id=parsed.id,
                text=parsed.text,
                line=number,
                entities=entities,
                relations=tuple(relations) if parsed.relations is not None else None,
                extra={key: value for key, value in record.items() if key not in known},
            )
        )
    return documents


#: A tag: O, or a position (B, I, L, E, U, S) and a type: `B-PER`, `U-ORG`, `I-MISC`.
_TAG = re.compile(r"^(?:O|([BILEUS])-(.+))$")


def read_conll(path: Path, data: bytes) -> list[Document]:
    """CoNLL-style files: a token and its tag per line (the first and the last column), a blank line between
    sentences, `-DOCSTART-` before each document. Tags are BIO (IOB1 and IOB2), BILOU or BIOES. A sentence's
    text is its tokens joined by spaces, a document's its sentences joined by newlines."""
    source = str(path)
    text = _decode(path, data)
    documents: list[Document] = []
    tokens: list[tuple[str, str, int]] = []
    sentences: list[list[tuple[str, str, int]]] = []
    start_line = 1

    def close_document() -> None:
        if sentences:
            number = len(documents) + 1
            name = path.stem if number == 1 and not doc_starts else f"{path.stem}:{number}"
            documents.append(_conll_document(name, start_line, sentences))
            sentences.clear()

    doc_starts = text.lstrip().startswith("-DOCSTART-")
    for number, raw in enumerate(text.splitlines(), start=1):
        columns = raw.split()
        if columns and columns[0] == "-DOCSTART-":
            if tokens:
                sentences.append(tokens)
                tokens = []
            close_document()
            start_line = number
            continue
        if not columns:
            if tokens:
                sentences.append(tokens)
                tokens = []
            continue
        if len(columns) < 2:
            raise InputError(source, "expected a token and its tag", line=number)
        if not _TAG.match(columns[-1]):
            raise InputError(
                source,
                f"{columns[-1]!r} is not a BIO or BILOU tag (O, B-TYPE, I-TYPE, L-TYPE, U-TYPE)",
                line=number,
                field="tag",
            )
        tokens.append((columns[0], columns[-1], number))
    if tokens:
        sentences.append(tokens)
    close_document()
    return documents


def _conll_document(name: str, line: int, sentences: list[list[tuple[str, str, int]]]) -> Document:
    text_parts: list[str] = []
    spans: list[tuple[int, int]] = []
    entities: list[Span] = []
    offset = 0
    for sentence in sentences:
        starts = []
        cursor = offset
        for token, _, _ in sentence:
            starts.append(cursor)
            cursor += len(token) + 1
        spans.append((offset, cursor - 1))
        text_parts.append(" ".join(token for token, _, _ in sentence))
        open_entity: tuple[int, str] | None = None  # (first token, type)
        for index, (_, tag, _) in enumerate(sentence):
            match = _TAG.match(tag)
            position, kind = (match.group(1), match.group(2)) if match else (None, None)
            continues = position in ("I", "L", "E") and open_entity is not None and open_entity[1] == kind
            if open_entity is not None and not continues:
                entities.append(_entity(sentence, starts, open_entity, index - 1))
                open_entity = None
            if position is not None and kind is not None and not continues:
                open_entity = (index, kind)
            if open_entity is not None and position in ("L", "E", "U", "S"):
                entities.append(_entity(sentence, starts, open_entity, index))
                open_entity = None
        if open_entity is not None:
            entities.append(_entity(sentence, starts, open_entity, len(sentence) - 1))
        offset = cursor
    return Document(
        id=name,
        text="\n".join(text_parts),
        line=line,
        entities=tuple(entities),
        sentences=tuple(spans),
    )


def _entity(
    sentence: list[tuple[str, str, int]], starts: list[int], opened: tuple[int, str], last: int
) -> Span:
    first, kind = opened
    name = " ".join(token for token, _, _ in sentence[first : last + 1])
    return Span(name=name, start=starts[first], end=starts[first] + len(name), type=kind)
