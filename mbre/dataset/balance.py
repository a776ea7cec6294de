"""Class balancing as the paper builds its training sets: the cap is the mean count of the positive classes
(rounded down); `cap` keeps at most that many of every class, `na-downsample` keeps every positive and at
most that many no-relation samples. Without a known no-relation label `cap` counts every class in the mean.
Draws are seeded per class, and the kept samples stay in run order."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from mbre.dataset.labelled import Labelled
from mbre.errors import SettingError
from mbre.schemas.options import BalanceRule


def class_cap(counts: Counter[str], no_relation: str | None) -> int:
    """The mean count of the positive classes that have samples, rounded down; every class counts as
    positive when the no-relation label is unknown (None)."""
    positive = [count for label, count in counts.items() if label != no_relation and count > 0]
    if not positive:
        raise SettingError("balancing needs at least one positive (not no-relation) sample; none is kept")
    return sum(positive) // len(positive)


def balance(
    records: Sequence[Labelled], rule: BalanceRule, no_relation: str | None, seed: int
) -> tuple[list[Labelled], int | None]:
    """The balanced records and the cap (None for `none`)."""
    if rule == "none":
        return list(records), None
    if no_relation is None and rule == "na-downsample":
        raise SettingError(f"--balance {rule} needs the no-relation label: pass --relations or --no-relation")
    cap = class_cap(Counter(record.relation for record in records), no_relation)
    by_class: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        by_class.setdefault(record.relation, []).append(index)
    kept: list[int] = []
    for label in sorted(by_class):
        members = by_class[label]
        if len(members) > cap and (rule == "cap" or label == no_relation):
            members = random.Random(f"{seed}/{label}").sample(members, cap)
        kept += members
    return [records[index] for index in sorted(kept)], cap
