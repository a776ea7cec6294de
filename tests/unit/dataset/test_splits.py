"""The split shares as `--split` reads them, and how a class of a few samples is cut."""

from __future__ import annotations

import pytest

from mbre.dataset.labelled import Labelled
from mbre.dataset.splits import parse_split, split_records
from mbre.errors import SettingError
from tests.support.samples import sample


def records(label: str, n: int) -> list[Labelled]:
    return [
        Labelled(sample(f"{label}{i}", "Ann met Bob.", "Ann", "Bob", label), label, False) for i in range(n)
    ]


@pytest.mark.parametrize(
    ("n", "counts"),
    [(1, (1, 0, 0)), (2, (2, 0, 0)), (3, (3, 0, 0)), (4, (3, 1, 0)), (5, (4, 1, 0)), (10, (8, 1, 1))],
)
def test_a_class_is_cut_by_largest_remainder_ties_to_the_earlier_split(n, counts):
    cut = split_records(records("x", n), parse_split("0.8,0.1,0.1"), seed=0)
    assert tuple(len(part) for part in cut.values()) == counts


def test_a_zero_share_writes_no_split_and_every_record_lands_once():
    both = records("x", 7) + records("y", 3)
    cut = split_records(both, parse_split("0.7, 0, 0.3"), seed=1)
    assert list(cut) == ["train", "test"]
    assert sorted(r.sample.id for part in cut.values() for r in part) == sorted(r.sample.id for r in both)


@pytest.mark.parametrize("text", ["1", "0.5,0.5", "0.6,0.3,0.2", "-0.1,0.6,0.5", "0,0.5,0.5", "x,y,z"])
def test_bad_shares_are_refused(text):
    with pytest.raises(SettingError, match="--split"):
        parse_split(text)
