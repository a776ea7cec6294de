"""Readers for the benchmarks' own file formats, producing the same validated Instances as JSON Lines input.

Like `read_instances`, every reader refuses bad input before any LLM call with an InputError that names the
file, the line and, where the format has named fields, the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from itertools import accumulate
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mbre.errors import InputError
from mbre.schemas.instances import Instance, parse_instance, read_instances
from mbre.schemas.options import GoldFormat
from mbre.schemas.relations import item_offsets

_SEMEVAL_SENTENCE = re.compile(r'(\d+)\t"(.*)"')
_SEMEVAL_START = re.compile(r'\d+\t"')
_SEMEVAL_MARKER = re.compile(r"(</?e[12]>)")
_MARKERS = ("<e1>", "</e1>", "<e2>", "</e2>")
_MARKER_ORDERS = (list(_MARKERS), [*_MARKERS[2:], *_MARKERS[:2]])


def load_instances(path: str | Path, format: GoldFormat = "auto") -> list[Instance]:
    """Read sentences in any supported format; "auto" looks at the first non-blank line of the file."""
    readers = {"jsonl": read_instances, "semeval": read_semeval, "tacred": read_tacred}
    chosen = sniff_format(path) if format == "auto" else format
    if chosen not in readers:
        raise InputError(str(path), f"unknown format {format!r}: use auto, jsonl, semeval or tacred")
    return readers[chosen](path)


def sniff_format(path: str | Path) -> str:
    """`[` starts a TACRED array, `<id><TAB>"` a SemEval record and `{` a JSON Lines record."""
    source = str(path)
    try:
        with Path(path).open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.decode("utf-8", errors="replace").removeprefix("\ufeff").strip()
                if line.startswith("["):
                    return "tacred"
                if _SEMEVAL_START.match(line):
                    return "semeval"
                if line.startswith("{"):
                    return "jsonl"
                if line:
                    raise InputError(
                        source,
                        "cannot tell the format: expected '[' (TACRED JSON), '<id><TAB>\"' (SemEval) or '{' "
                        "(JSON Lines) at the start; name the format explicitly",
                        line=number,
                    )
    except OSError as exc:
        raise InputError(source, f"cannot read the file: {exc.strerror}") from exc
    raise InputError(source, "no sentences in the file")


def read_semeval(path: str | Path) -> list[Instance]:
    """Read an original SemEval-2010 Task 8 file such as TRAIN_FILE.TXT or TEST_FILE_FULL.TXT.

    A record is `<id><TAB>"<sentence>"`, then the label, then an optional `Comment:` line; blank lines
    separate records. `<e1>` marks the head and `<e2>` the tail. The markers are removed and nothing else
    changes, so text, spans and labels equal the converted `train.jsonl`/`test.jsonl`; the id is the official
    number as written, where those files use `semeval:<split>:<number>`.
    """
    source = str(path)
    lines = [line.rstrip() for line in _read_text(path).split("\n")]
    records = _semeval_records(lines)
    return _unique(
        ((number, _semeval_instance(number, sentence, label, source)) for number, sentence, label in records),
        source,
    )


def _semeval_records(lines: list[str]) -> Iterator[tuple[int, str, str]]:
    """(line number, sentence line, label line) per record; a missing label line reads as ''."""
    index = 0
    while index < len(lines):
        if not lines[index]:
            index += 1
            continue
        yield index + 1, lines[index], lines[index + 1] if index + 1 < len(lines) else ""
        index += 2
        if index < len(lines) and lines[index].startswith("Comment:"):
            index += 1


def _semeval_instance(number: int, sentence: str, label: str, source: str) -> Instance:
    match = _SEMEVAL_SENTENCE.fullmatch(sentence)
    if not match:
        raise InputError(
            source, f'expected a sentence line <id><TAB>"<sentence>", found {sentence!r}', line=number
        )
    if not label or len(label.split()) != 1 or label.startswith("Comment:"):
        raise InputError(
            source,
            f"expected the relation label after the sentence on line {number}, found {label!r}",
            line=number + 1,
        )
    text, head, tail = _strip_markers(match[2], source, number)
    record = {"id": match[1], "text": text, "head": head, "tail": tail, "relation": label}
    return parse_instance(record, source=source, line=number)


def _strip_markers(marked: str, source: str, number: int) -> tuple[str, dict[str, object], dict[str, object]]:
    """The sentence without markers, and the spans of the `<e1>` and `<e2>` mentions in it."""
    pieces = _SEMEVAL_MARKER.split(marked)
    markers = pieces[1::2]
    for marker in _MARKERS:
        count = markers.count(marker)
        if count != 1:
            problem = (
                f"missing the {marker} marker" if count == 0 else f"the {marker} marker appears {count} times"
            )
            raise InputError(source, problem, line=number)
    if markers not in _MARKER_ORDERS:
        raise InputError(
            source,
            f"the entity markers must enclose two separate mentions, found {' '.join(markers)}",
            line=number,
        )
    text = ""
    spans: dict[str, int] = {}
    for piece in pieces:
        if piece in _MARKERS:
            spans[piece] = len(text)
        else:
            text += piece
    head = _mention(text, spans["<e1>"], spans["</e1>"], "<e1>", source, number)
    tail = _mention(text, spans["<e2>"], spans["</e2>"], "<e2>", source, number)
    return text, head, tail


def _mention(text: str, start: int, end: int, marker: str, source: str, number: int) -> dict[str, object]:
    if start == end:
        raise InputError(source, f"the {marker} mention is empty", line=number)
    return {"name": text[start:end], "start": start, "end": end}


class _TacredRecord(BaseModel):
    """The fields mbre uses from a TACRED record; token indices are end inclusive, as in TACRED."""

    model_config = ConfigDict(extra="ignore", strict=True)

    id: str = Field(min_length=1)
    token: list[str] = Field(min_length=1)
    subj_start: int = Field(ge=0)
    subj_end: int = Field(ge=0)
    obj_start: int = Field(ge=0)
    obj_end: int = Field(ge=0)
    relation: str = Field(min_length=1)


def read_tacred(path: str | Path) -> list[Instance]:
    """Read a TACRED-style JSON array: tokens joined by single spaces, subject = head, object = tail.

    Errors name the line where the offending record starts and the TACRED field, e.g. `subj_end`.
    """
    source = str(path)
    text = _read_text(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(source, f"not valid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from exc
    if not isinstance(document, list):
        first = len(text) - len(text.lstrip())
        raise InputError(source, "expected a JSON array of TACRED records", line=_lines_of(text, [first])[0])
    starts = _lines_of(text, item_offsets(text, text.index("[")))
    records = zip(starts, document, strict=True)
    return _unique(((line, _tacred_instance(record, source, line)) for line, record in records), source)


def _tacred_instance(record: object, source: str, line: int) -> Instance:
    if not isinstance(record, dict):
        raise InputError(source, "a TACRED record must be a JSON object", line=line)
    try:
        parsed = _TacredRecord.model_validate(record)
    except ValidationError as exc:
        raise InputError.from_validation(source, exc, line=line) from exc
    starts = list(accumulate((len(token) + 1 for token in parsed.token[:-1]), initial=0))
    text = " ".join(parsed.token)
    mentions: dict[str, dict[str, object]] = {}
    for role in ("subj", "obj"):
        first_token, last_token = _token_range(parsed, role, source, line)
        start, end = starts[first_token], starts[last_token] + len(parsed.token[last_token])
        mentions[role] = {"name": text[start:end], "start": start, "end": end}
    instance = {"id": parsed.id, "text": text, "head": mentions["subj"], "tail": mentions["obj"]}
    return parse_instance({**instance, "relation": parsed.relation}, source=source, line=line)


def _token_range(record: _TacredRecord, role: str, source: str, line: int) -> tuple[int, int]:
    start, end = getattr(record, f"{role}_start"), getattr(record, f"{role}_end")
    count = len(record.token)
    if end >= count:
        raise InputError(
            source,
            f"{end} is out of range (the record has {count} tokens, indices 0..{count - 1})",
            line=line,
            field=f"{role}_end",
        )
    if start > end:
        raise InputError(source, f"{start} is after {role}_end {end}", line=line, field=f"{role}_start")
    return start, end


def _read_text(path: str | Path) -> str:
    """The whole file as text; a BOM is tolerated and an undecodable byte is located by line."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(source, f"cannot read the file: {exc.strerror}") from exc
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            source, f"not UTF-8: {exc.reason} at byte {exc.start - line_start}", line=line
        ) from exc


def _lines_of(text: str, offsets: list[int]) -> list[int]:
    """Line numbers of ascending offsets, counted incrementally so large files stay linear."""
    lines, line, previous = [], 1, 0
    for offset in offsets:
        line += text.count("\n", previous, offset)
        previous = offset
        lines.append(line)
    return lines


def _unique(numbered: Iterable[tuple[int, Instance]], source: str) -> list[Instance]:
    """Refuse duplicate ids and empty files, as `read_instances` does."""
    instances: list[Instance] = []
    seen: dict[str, int] = {}
    for line, instance in numbered:
        if instance.id in seen:
            message = f"duplicate id {instance.id!r} (first on line {seen[instance.id]})"
            raise InputError(source, message, line=line, field="id")
        seen[instance.id] = line
        instances.append(instance)
    if not instances:
        raise InputError(source, "no sentences in the file")
    return instances
