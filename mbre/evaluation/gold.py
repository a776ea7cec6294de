"""Gold-labelled sentences for scoring: loaded from any supported format, each label checked against the
schema with its line, and the seeded slice that `--limit N --seed S` names."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from mbre.errors import InputError, SettingError
from mbre.evaluation.formats import load_instances, sniff_format
from mbre.schemas.instances import Instance, iter_jsonl
from mbre.schemas.options import GoldFormat
from mbre.schemas.relations import item_offsets

_SEMEVAL_SENTENCE_LINE = re.compile(r'\d+\t"')
_TACRED_RELATION_KEY = re.compile(r'"relation"\s*:')


def select_slice(instances: Sequence[Instance], limit: int | None, seed: int) -> list[Instance]:
    """`limit` sentences drawn by `random.Random(seed).sample`, so that
    (file, limit, seed) names a slice; every sentence, in file order, without a limit."""
    if limit is None:
        return list(instances)
    if not 1 <= limit <= len(instances):
        raise SettingError(
            f"the limit must be between 1 and {len(instances)} (the sentences given), not {limit}"
        )
    return random.Random(seed).sample(list(instances), limit)


def load_gold(
    path: str | Path, format: GoldFormat = "auto", *, labels: Iterable[str] | None = None
) -> list[Instance]:
    """Sentences that all carry a gold label, from `labels` when it is given; a sentence without one, or
    with another, is an InputError naming the file, the line and the field."""
    instances = load_instances(path, format)
    known = None if labels is None else set(labels)
    for position, instance in enumerate(instances):
        if instance.relation is None:
            problem = f"sentence {instance.id!r} has no gold label"
        elif known is not None and instance.relation not in known:
            problem = (
                f"gold label {instance.relation!r} of sentence {instance.id!r} is not in the relation "
                f"schema ({len(known)} labels: {', '.join(sorted(known))})"
            )
        else:
            continue
        raise InputError(str(path), problem, line=_label_line(path, format, position), field="relation")
    return instances


def _label_line(path: str | Path, format: GoldFormat, position: int) -> int:
    """The line holding the label of the `position`-th sentence of a file that `load_instances` read."""
    chosen = sniff_format(path) if format == "auto" else format
    if chosen == "jsonl":
        return [number for number, _ in iter_jsonl(path)][position]
    text = Path(path).read_text(encoding="utf-8-sig")
    if chosen == "semeval":  # the label is on the line after its sentence
        starts = [n for n, line in enumerate(text.split("\n"), start=1) if _SEMEVAL_SENTENCE_LINE.match(line)]
        return starts[position] + 1
    start = item_offsets(text, text.index("["))[position]
    key = _TACRED_RELATION_KEY.search(text, start)
    return text.count("\n", 0, key.start() if key else start) + 1
