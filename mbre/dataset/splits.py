"""Train, dev and test files from one export: `--split 0.8,0.1,0.1` cuts every class by the same shares
(label-stratified), the draw seeded per class, so each split holds each class in proportion and the same
command writes the same files."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from mbre.dataset.labelled import Labelled
from mbre.errors import SettingError

#: The splits, in the order `--split` gives their shares.
SPLIT_NAMES = ("train", "dev", "test")


def parse_split(text: str) -> tuple[float, float, float]:
    """`"0.8,0.1,0.1"` as the train, dev and test shares: three numbers from 0 to 1 that add up to 1."""
    parts = [part.strip() for part in text.split(",")]
    try:
        shares = [float(part) for part in parts]
    except ValueError:
        shares = []
    if len(shares) != 3 or any(not 0 <= share <= 1 for share in shares) or not math.isclose(sum(shares), 1):
        raise SettingError(
            f"--split {text!r}: give the train, dev and test shares, three numbers from 0 to 1 that add up "
            "to 1, e.g. 0.8,0.1,0.1"
        )
    if shares[0] == 0:
        raise SettingError(f"--split {text!r}: the train share must not be 0")
    return shares[0], shares[1], shares[2]


def split_records(
    records: Sequence[Labelled], shares: Sequence[float], seed: int
) -> dict[str, list[Labelled]]:
    """The records of each split with a share above 0, in run order. Each class is cut by the shares,
    rounded by largest remainder (ties go to the earlier split), so a class of one sentence goes to train."""
    by_class: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        by_class.setdefault(record.relation, []).append(index)
    chosen: list[list[int]] = [[] for _ in shares]
    for label in sorted(by_class):
        members = by_class[label]
        random.Random(f"{seed}/split/{label}").shuffle(members)
        at = 0
        for part, count in enumerate(_counts(len(members), shares)):
            chosen[part] += members[at : at + count]
            at += count
    return {
        name: [records[index] for index in sorted(indices)]
        for name, share, indices in zip(SPLIT_NAMES, shares, chosen, strict=True)
        if share > 0
    }


def _counts(total: int, shares: Sequence[float]) -> list[int]:
    exact = [total * share for share in shares]
    counts = [math.floor(value) for value in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))
    for index in by_remainder[: total - sum(counts)]:
        counts[index] += 1
    return counts
