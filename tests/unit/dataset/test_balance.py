"""The paper's balancing, exactly: the cap is the mean count of the positive classes rounded down; `cap`
limits every class to it, `na-downsample` only the no-relation class; draws are seeded, order is kept."""

from __future__ import annotations

from collections import Counter

import pytest

from mbre.dataset.balance import balance, class_cap
from mbre.dataset.labelled import Labelled
from mbre.errors import SettingError
from tests.support.samples import sample


def records(counts: dict[str, int]) -> list[Labelled]:
    """Interleaved classes, so that keeping run order is visible."""
    made = []
    for i in range(max(counts.values())):
        for label, n in counts.items():
            if i < n:
                made.append(Labelled(sample(f"{label}-{i}", "A met B.", "A", "B", label, 0.95), label, False))
    return made


COUNTS = {"rel_a": 10, "rel_b": 4, "rel_c": 1, "no_relation": 20}


def counts(kept: list[Labelled]) -> dict[str, int]:
    return dict(Counter(record.relation for record in kept))


def test_cap_limits_every_class_to_the_positive_mean():
    kept, cap = balance(records(COUNTS), "cap", "no_relation", seed=0)
    assert cap == 5  # (10 + 4 + 1) / 3
    assert counts(kept) == {"rel_a": 5, "rel_b": 4, "rel_c": 1, "no_relation": 5}


def test_na_downsample_keeps_every_positive():
    kept, cap = balance(records(COUNTS), "na-downsample", "no_relation", seed=0)
    assert cap == 5
    assert counts(kept) == {"rel_a": 10, "rel_b": 4, "rel_c": 1, "no_relation": 5}


def test_none_keeps_everything_in_order():
    made = records(COUNTS)
    assert balance(made, "none", None, seed=0) == (made, None)


def test_the_mean_is_rounded_down():
    assert class_cap(Counter({"a": 3, "b": 2, "no_relation": 9}), "no_relation") == 2  # 2.5
    assert class_cap(Counter({"a": 3, "b": 2, "c": 2, "no_relation": 0}), "no_relation") == 2  # 2.33


def test_draws_are_seeded_and_keep_run_order():
    made = records(COUNTS)
    first, _ = balance(made, "cap", "no_relation", seed=1)
    again, _ = balance(made, "cap", "no_relation", seed=1)
    other, _ = balance(made, "cap", "no_relation", seed=2)
    assert [r.sample.id for r in first] == [r.sample.id for r in again]
    assert {r.sample.id for r in first} != {r.sample.id for r in other}
    positions = [made.index(record) for record in first]
    assert positions == sorted(positions)


def test_balancing_needs_a_positive_class_and_the_no_relation_label():
    with pytest.raises(SettingError, match="at least one positive"):
        balance(records({"no_relation": 3}), "cap", "no_relation", seed=0)
    with pytest.raises(SettingError, match="--relations or --no-relation"):
        balance(records(COUNTS), "na-downsample", None, seed=0)


def test_cap_without_a_no_relation_label_counts_every_class():
    made = records({"a": 6, "b": 2, "c": 1})
    kept, cap = balance(made, "cap", None, seed=0)
    assert cap == 3 and Counter(r.relation for r in kept) == {"a": 3, "b": 2, "c": 1}
