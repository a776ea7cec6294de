"""The training-set formats relation-extraction trainers read, each written from the same labelled records:

- `jsonl`: mbre's own input format with `relation` (what `discover`, `evaluate --gold` and `student` read);
- `opennre`: OpenNRE's sentence-level lines, `{"text", "h": {"name", "pos"}, "t": {...}, "relation"}` with
  character offsets, end exclusive, and `rel2id.json`;
- `tacred`: a JSON array of TACRED records: `token`, `subj_start`/`subj_end`/`obj_start`/`obj_end` as
  inclusive token indices, `relation` (subject = head, object = tail), and `subj_type`/`obj_type` when the
  entities' types are known;
- `hf`: a Hugging Face `datasets` Dataset saved with `save_to_disk`, `relation` a `ClassLabel`, and the same
  rows as parquet.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mbre.dataset.labelled import Labelled
from mbre.errors import StorageError
from mbre.files import write_atomic
from mbre.schemas.instances import Span
from mbre.schemas.options import ExportFormat

#: A word, or one character that is neither a word character nor a space (TACRED-like tokens).
_TOKEN = re.compile(r"\w+|[^\w\s]")

Writer = Callable[[Sequence[Labelled], list[str], Path], list[Path]]


def write_jsonl(records: Sequence[Labelled], labels: list[str], out: Path) -> list[Path]:
    lines = [record.instance().model_dump_json(exclude_none=True) for record in records]
    return [write_atomic(out / "train.jsonl", "".join(line + "\n" for line in lines))]


def write_opennre(records: Sequence[Labelled], labels: list[str], out: Path) -> list[Path]:
    """OpenNRE parses each line with Python's `eval`, so the lines hold only strings and integers."""
    lines = [
        json.dumps(
            {
                "text": r.sample.text,
                "h": {"name": r.sample.head.name, "pos": [r.sample.head.start, r.sample.head.end]},
                "t": {"name": r.sample.tail.name, "pos": [r.sample.tail.start, r.sample.tail.end]},
                "relation": r.relation,
            },
            ensure_ascii=False,
        )
        for r in records
    ]
    return [
        write_atomic(out / "train.txt", "".join(line + "\n" for line in lines)),
        write_atomic(
            out / "rel2id.json", json.dumps({label: i for i, label in enumerate(labels)}, indent=2) + "\n"
        ),
    ]


def tokenize(text: str, head: Span, tail: Span) -> tuple[list[str], tuple[int, int], tuple[int, int]]:
    """Tokens of the sentence, split at the entity boundaries too, and the head's and tail's first and last
    token indices (inclusive, as TACRED counts)."""
    first, second = sorted([("head", head), ("tail", tail)], key=lambda item: item[1].start)
    cuts = [
        (None, 0, first[1].start),
        (first[0], first[1].start, first[1].end),
        (None, first[1].end, second[1].start),
        (second[0], second[1].start, second[1].end),
        (None, second[1].end, len(text)),
    ]
    tokens: list[str] = []
    spans: dict[str, tuple[int, int]] = {}
    for role, start, end in cuts:
        piece = _TOKEN.findall(text[start:end])
        if role is not None:
            spans[role] = (len(tokens), len(tokens) + len(piece) - 1)
        tokens += piece
    return tokens, spans["head"], spans["tail"]


def write_tacred(records: Sequence[Labelled], labels: list[str], out: Path) -> list[Path]:
    rows = []
    for r in records:
        tokens, (subj_start, subj_end), (obj_start, obj_end) = tokenize(
            r.sample.text, r.sample.head, r.sample.tail
        )
        row: dict[str, Any] = {
            "id": r.sample.id,
            "token": tokens,
            "subj_start": subj_start,
            "subj_end": subj_end,
            "obj_start": obj_start,
            "obj_end": obj_end,
            "relation": r.relation,
        }
        for key, span in (("subj_type", r.sample.head), ("obj_type", r.sample.tail)):
            if span.type is not None:
                row[key] = span.type
        rows.append(row)
    return [write_atomic(out / "train.json", json.dumps(rows, ensure_ascii=False, indent=1) + "\n")]


def write_hf(records: Sequence[Labelled], labels: list[str], out: Path) -> list[Path]:
    from datasets import ClassLabel, Dataset, Features, Value, disable_progress_bars

    disable_progress_bars()
    span = {"name": Value("string"), "start": Value("int32"), "end": Value("int32")}
    if any(r.sample.head.type is not None or r.sample.tail.type is not None for r in records):
        span["type"] = Value("string")
    features = Features(
        {
            "id": Value("string"),
            "text": Value("string"),
            "head": span,
            "tail": span,
            "relation": ClassLabel(names=labels),
        }
    )
    columns: dict[str, list[Any]] = {
        "id": [r.sample.id for r in records],
        "text": [r.sample.text for r in records],
        "head": [{key: getattr(r.sample.head, key) for key in span} for r in records],
        "tail": [{key: getattr(r.sample.tail, key) for key in span} for r in records],
        "relation": [labels.index(r.relation) for r in records],
    }
    dataset = Dataset.from_dict(columns, features=features)
    directory, parquet = out / "hf", out / "train.parquet"
    try:
        dataset.save_to_disk(str(directory))
        dataset.to_parquet(str(parquet))
    except OSError as exc:
        raise StorageError.cannot_write(out, exc) from exc
    return [directory, parquet]


WRITERS: dict[ExportFormat, Writer] = {
    "jsonl": write_jsonl,
    "opennre": write_opennre,
    "tacred": write_tacred,
    "hf": write_hf,
}
