"""The training-set formats relation-extraction trainers read, each written from the same labelled records,
one file per split (`train`, and `dev` and `test` with `--split`):

- `jsonl`: mbre's own input format with `relation` (what `discover`, `evaluate --gold` and `student` read);
- `opennre`: OpenNRE's sentence-level lines, `{"text", "h": {"name", "pos"}, "t": {...}, "relation"}` with
  character offsets, end exclusive, and `rel2id.json`;
- `tacred`: a JSON array of TACRED records: `token`, `subj_start`/`subj_end`/`obj_start`/`obj_end` as
  inclusive token indices, `relation` (subject = head, object = tail), and `subj_type`/`obj_type` when the
  entities' types are known;
- `hf`: a Hugging Face `datasets` DatasetDict saved with `save_to_disk`, `relation` a `ClassLabel`, and each
  split as parquet.

Every row keeps the input line's other fields (`doc_id`, ...), the label's `confidence` and its
`confidence_source`, and `reviewed` (a person gave the label). The class list is every label given, in order:
the schema's, so class ids are the same in every export of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mbre.dataset.labelled import Labelled
from mbre.errors import SettingError, StorageError
from mbre.files import write_atomic
from mbre.schemas.instances import Span
from mbre.schemas.options import ExportFormat

#: A word, or one character that is neither a word character nor a space (TACRED-like tokens).
_TOKEN = re.compile(r"\w+|[^\w\s]")

#: Split name -> its records, in run order.
Splits = Mapping[str, Sequence[Labelled]]
Writer = Callable[[Splits, list[str], Path], list[Path]]


def kept_fields(record: Labelled) -> dict[str, Any]:
    """What a row carries besides the sentence and its label: the input's other fields, then the label's
    confidence, where it comes from, and whether a person gave it."""
    return {
        **record.sample.extra,
        "confidence": record.confidence,
        "confidence_source": record.confidence_source,
        "reviewed": record.reviewed,
    }


def write_jsonl(splits: Splits, labels: list[str], out: Path) -> list[Path]:
    files = []
    for name, records in splits.items():
        lines = [
            json.dumps(
                record.instance().model_dump(mode="json", exclude_none=True) | kept_fields(record),
                ensure_ascii=False,
            )
            for record in records
        ]
        files.append(write_atomic(out / f"{name}.jsonl", "".join(line + "\n" for line in lines)))
    return files


def write_opennre(splits: Splits, labels: list[str], out: Path) -> list[Path]:
    """OpenNRE parses each line with Python's `eval`, which knows no `null`, `true` or `false`: a field
    without a value is left out, and true and false are written as 1 and 0."""
    files = []
    for name, records in splits.items():
        lines = [
            json.dumps(
                {
                    "id": r.sample.id,
                    "text": r.sample.text,
                    "h": {"name": r.sample.head.name, "pos": [r.sample.head.start, r.sample.head.end]},
                    "t": {"name": r.sample.tail.name, "pos": [r.sample.tail.start, r.sample.tail.end]},
                    **{key: _literal(value) for key, value in kept_fields(r).items() if value is not None},
                    "relation": r.relation,
                },
                ensure_ascii=False,
            )
            for r in records
        ]
        files.append(write_atomic(out / f"{name}.txt", "".join(line + "\n" for line in lines)))
    rel2id = json.dumps({label: i for i, label in enumerate(labels)}, indent=2) + "\n"
    return [*files, write_atomic(out / "rel2id.json", rel2id)]


def _literal(value: Any) -> Any:
    """`value` as JSON that is also a Python literal: booleans as 1 and 0, nulls inside left out."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict):
        return {key: _literal(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_literal(item) for item in value if item is not None]
    return value


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


def write_tacred(splits: Splits, labels: list[str], out: Path) -> list[Path]:
    files = []
    for name, records in splits.items():
        rows = []
        for r in records:
            tokens, (subj_start, subj_end), (obj_start, obj_end) = tokenize(
                r.sample.text, r.sample.head, r.sample.tail
            )
            rows.append(
                {
                    **kept_fields(r),
                    "id": r.sample.id,
                    "token": tokens,
                    "subj_start": subj_start,
                    "subj_end": subj_end,
                    "obj_start": obj_start,
                    "obj_end": obj_end,
                    "relation": r.relation,
                    **{
                        key: span.type
                        for key, span in (("subj_type", r.sample.head), ("obj_type", r.sample.tail))
                        if span.type is not None
                    },
                }
            )
        text = json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
        files.append(write_atomic(out / f"{name}.json", text))
    return files


def write_hf(splits: Splits, labels: list[str], out: Path) -> list[Path]:
    """The input's other fields become columns of the types `datasets` infers (a row without one holds
    null); the sentence, label, confidence and flag columns have fixed types."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value, disable_progress_bars

    disable_progress_bars()
    everything = [record for records in splits.values() for record in records]
    span = {"name": Value("string"), "start": Value("int32"), "end": Value("int32")}
    if any(r.sample.head.type is not None or r.sample.tail.type is not None for r in everything):
        span["type"] = Value("string")
    fixed = {
        "id": Value("string"),
        "text": Value("string"),
        "head": span,
        "tail": span,
        "relation": ClassLabel(names=labels),
        "confidence": Value("float64"),
        "confidence_source": Value("string"),
        "reviewed": Value("bool"),
    }
    extra = list(dict.fromkeys(key for r in everything for key in r.sample.extra if key not in fixed))
    try:  # typed over every split at once, so each split has the same columns of the same types
        inferred = Dataset.from_dict({key: [r.sample.extra.get(key) for r in everything] for key in extra})
    except (TypeError, ValueError) as exc:  # pyarrow's ArrowInvalid and ArrowTypeError among them
        raise SettingError(f"the input's extra fields cannot be columns ({exc})") from exc
    features = Features({**fixed, **{key: inferred.features[key] for key in extra}})
    datasets = DatasetDict()
    for name, records in splits.items():
        columns: dict[str, list[Any]] = {
            "id": [r.sample.id for r in records],
            "text": [r.sample.text for r in records],
            "head": [{key: getattr(r.sample.head, key) for key in span} for r in records],
            "tail": [{key: getattr(r.sample.tail, key) for key in span} for r in records],
            "relation": [labels.index(r.relation) for r in records],
            "confidence": [r.confidence for r in records],
            "confidence_source": [r.confidence_source for r in records],
            "reviewed": [r.reviewed for r in records],
            **{key: [r.sample.extra.get(key) for r in records] for key in extra},
        }
        datasets[name] = Dataset.from_dict(columns, features=features)
    directory = out / "hf"
    files: list[Path] = [directory]
    try:
        datasets.save_to_disk(str(directory))
        for name, dataset in datasets.items():
            files.append(out / f"{name}.parquet")
            dataset.to_parquet(str(files[-1]))
    except OSError as exc:
        raise StorageError.cannot_write(out, exc) from exc
    return files


WRITERS: dict[ExportFormat, Writer] = {
    "jsonl": write_jsonl,
    "opennre": write_opennre,
    "tacred": write_tacred,
    "hf": write_hf,
}
