"""The label decision rules, branch by branch (pure function)."""

from __future__ import annotations

import pytest

from mbre.graph.decision import decide_label
from mbre.schemas.results import Extraction, Verdict


def ext(label: str | None, abstained: bool = False, confidence: float | None = 0.9) -> Extraction:
    return Extraction(group=0, labels=["a", "b"], label=label, confidence=confidence, abstained=abstained)


def yes(label: str, confidence: float | None) -> Verdict:
    return Verdict(label=label, holds=True, confidence=confidence)


def no(label: str) -> Verdict:
    return Verdict(label=label, holds=False, confidence=0.9)


def decide(strategy="mbre", policy="best", epsilon=0.1, extractions=(), verdicts=()):
    return decide_label(
        strategy=strategy,
        policy=policy,
        epsilon=epsilon,
        no_relation="Other",
        extractions=list(extractions),
        verdicts=list(verdicts),
    )


def test_no_candidate_gives_no_relation():
    assert decide(extractions=[ext(None), ext(None)]) == ("Other", None, "no_candidate")


def test_nothing_verified_gives_no_relation():
    assert decide(extractions=[ext("a")], verdicts=[no("a")]) == ("Other", None, "no_candidate")


def test_one_verified_candidate_wins_whatever_its_confidence():
    assert decide(verdicts=[no("a"), yes("b", 0.3)]) == ("b", 0.3, "single")
    assert decide(verdicts=[yes("b", None)]) == ("b", None, "single")


def test_several_verified_keep_confident_ones_and_take_the_best():
    verdicts = [yes("a", 0.92), yes("b", 0.97), yes("c", 0.85)]
    assert decide(verdicts=verdicts, epsilon=0.1) == ("b", 0.97, "most_confident")
    # epsilon 0.05: only b passes 0.95
    assert decide(verdicts=verdicts, epsilon=0.05)[0] == "b"


def test_several_verified_none_confident_enough_abstains():
    assert decide(verdicts=[yes("a", 0.8), yes("b", 0.85)], epsilon=0.1) == (None, None, "ambiguous")
    assert decide(verdicts=[yes("a", None), yes("b", None)]) == (None, None, "ambiguous")


def test_threshold_is_inclusive():
    assert decide(verdicts=[yes("a", 0.9), yes("b", 0.5)], epsilon=0.1)[0] == "a"


def test_first_policy_takes_the_first_verified():
    assert decide(policy="first", verdicts=[no("a"), yes("b", 0.5), yes("c", 0.99)]) == (
        "b",
        0.5,
        "first_verified",
    )


def test_abstention_is_not_turned_into_no_relation():
    assert decide(extractions=[ext(None), ext(None, abstained=True)]) == (None, None, "abstained")
    abstained = Verdict(label="a", holds=False, abstained=True)
    assert decide(extractions=[ext("a")], verdicts=[abstained]) == (None, None, "abstained")
    # ... but a verified label still wins over another group's failure
    assert decide(extractions=[ext("a"), ext(None, abstained=True)], verdicts=[yes("a", 0.6)])[0] == "a"


def test_multiclass_baseline():
    assert decide(strategy="multiclass", extractions=[ext("a", confidence=0.7)]) == ("a", 0.7, "multiclass")
    assert decide(strategy="multiclass", extractions=[ext(None)])[0] == "Other"
    assert decide(strategy="multiclass", extractions=[ext(None, abstained=True)])[2] == "abstained"


def test_binary_baseline_most_confident_yes_wins_without_threshold():
    verdicts = [yes("a", 0.6), no("b"), yes("c", 0.7)]
    assert decide(strategy="binary", verdicts=verdicts) == ("c", 0.7, "most_confident")
    assert decide(strategy="binary", verdicts=[yes("a", None), yes("c", None)])[0] == "a"


@pytest.mark.parametrize("epsilon", [0.001, 0.01, 0.1])
def test_epsilon_sweep_is_monotone(epsilon):
    verdicts = [yes("a", 0.995), yes("b", 0.95)]
    label = decide(verdicts=verdicts, epsilon=epsilon)[0]
    assert label == ("a" if epsilon >= 0.005 else None)
