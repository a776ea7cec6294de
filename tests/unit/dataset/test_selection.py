"""What reviewers see first: abstentions and ambiguous decisions, then low confidence, then disagreement
between the groups and the verifier; `all` keeps run order and `random` is a seeded draw."""

from __future__ import annotations

import pytest

from mbre.dataset.selection import doubt, select_for_review
from mbre.errors import SettingError
from tests.support.samples import SAMPLES


def ids(chosen):
    return [sample.id for sample, _ in chosen]


def test_each_kind_of_doubt():
    reasons = {sample.id: doubt(sample).reason for sample in SAMPLES}
    assert reasons == {
        "s-sure": "",
        "s-low": "confidence below 0.9",
        "s-ambiguous": "ambiguous",
        "s-abstained": "abstained",
        "s-disagree": "groups and verifier disagree",
        "s-none": "",
        "s-script": "",
    }


def test_uncertain_takes_the_doubtful_most_doubtful_first():
    assert ids(select_for_review(SAMPLES, "uncertain")) == [
        "s-ambiguous",
        "s-abstained",
        "s-low",
        "s-disagree",
    ]
    # with a limit past them, the least confident of the rest follow (no confidence first)
    assert ids(select_for_review(SAMPLES, "uncertain", limit=6)) == [
        "s-ambiguous",
        "s-abstained",
        "s-low",
        "s-disagree",
        "s-none",
        "s-script",
    ]
    assert ids(select_for_review(SAMPLES, "uncertain", limit=2)) == ["s-ambiguous", "s-abstained"]
    assert ids(select_for_review(SAMPLES, "uncertain", low_confidence=0.5)) == [
        "s-ambiguous",
        "s-abstained",
        "s-disagree",
    ]


def test_all_and_random():
    assert ids(select_for_review(SAMPLES, "all", limit=3)) == ["s-sure", "s-low", "s-ambiguous"]
    drawn = ids(select_for_review(SAMPLES, "random", limit=4, seed=7))
    assert drawn == ids(select_for_review(SAMPLES, "random", limit=4, seed=7)) and len(set(drawn)) == 4
    assert drawn != ids(select_for_review(SAMPLES, "random", limit=4, seed=8))
    with pytest.raises(SettingError, match="--limit must be at least 1"):
        select_for_review(SAMPLES, "all", limit=0)


def test_a_label_without_any_confidence_is_doubtful():
    """A run with confidence="none" has nothing to rank by: every label it found goes to review."""
    sure = next(sample for sample in SAMPLES if sample.id == "s-sure")
    blind = sure.model_copy(update={"confidence": None, "confidence_source": "none"})
    assert doubt(blind).reason == "no confidence: the run had none"
    assert ids(select_for_review([sure, blind], "uncertain")) == [blind.id]
