"""The label decision rules, branch by branch (pure function): the paper's, `first` and `calibrated`."""

from __future__ import annotations

import math

import pytest

from mbre.graph.decision import (
    best_group_labels,
    candidate_scores,
    decide_label,
    leader,
    preference,
    preferred_labels,
    undecided,
)
from mbre.schemas.results import Extraction, Verdict


def ext(label: str | None, abstained: bool = False, confidence: float | None = 0.9) -> Extraction:
    return Extraction(group=0, labels=["a", "b"], label=label, confidence=confidence, abstained=abstained)


def dist(labels: list[str], probabilities: list[float], calibrated: list[float] | None = None) -> Extraction:
    """A group's answer with its distribution over `labels` and none (last)."""
    best = max(range(len(probabilities)), key=lambda i: probabilities[i])
    return Extraction(
        group=0,
        labels=labels,
        label=labels[best] if best < len(labels) else None,
        confidence=probabilities[best],
        probabilities=probabilities,
        calibrated=calibrated,
    )


def support(label: str, p_yes: float, calibrated: float | None = None) -> Verdict:
    return Verdict(
        label=label, holds=p_yes >= 0.5, confidence=max(p_yes, 1 - p_yes), p_yes=p_yes, calibrated=calibrated
    )


def yes(label: str, confidence: float | None) -> Verdict:
    return Verdict(label=label, holds=True, confidence=confidence)


def no(label: str) -> Verdict:
    return Verdict(label=label, holds=False, confidence=0.9)


def decided(strategy="mbre", policy="paper", epsilon=0.1, extractions=(), verdicts=(), **thresholds):
    return decide_label(
        strategy=strategy,
        policy=policy,
        epsilon=epsilon,
        no_relation="Other",
        extractions=list(extractions),
        verdicts=list(verdicts),
        **thresholds,
    )


def decide(**options):
    """The label, its confidence and the rule that gave it."""
    outcome = decided(**options)
    return outcome.label, outcome.confidence, outcome.rule


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


def odds_mean(*probabilities: float) -> float:
    """The score of several agreeing experts: the geometric mean of their odds, as a probability."""
    logit = sum(math.log(p / (1 - p)) for p in probabilities) / len(probabilities)
    return 1 / (1 + math.exp(-logit))


def test_calibrated_binary_takes_the_best_supported_label_if_it_reaches_the_threshold():
    verdicts = [support("a", 0.6), support("b", 0.3), support("c", 0.9, calibrated=0.7)]
    outcome = decided(strategy="binary", policy="calibrated", verdicts=verdicts)
    assert (outcome.label, outcome.rule) == ("c", "scored")
    assert outcome.scores == pytest.approx({"a": 0.6, "b": 0.3, "c": 0.7})  # calibrated wins over raw
    assert decide(strategy="binary", policy="calibrated", verdicts=verdicts, threshold=0.75) == (
        "Other",
        0.7,
        "below_threshold",
    )
    # A per-label threshold overrides the default for its label only.
    per_label = decided(strategy="binary", policy="calibrated", verdicts=verdicts, thresholds={"c": 0.8})
    assert (per_label.label, per_label.rule) == ("Other", "below_threshold")
    assert decide(strategy="binary", policy="calibrated", verdicts=verdicts[:1])[0] == "a"
    assert decide(strategy="binary", policy="calibrated", verdicts=[support("a", 0.5)])[0] == "a"  # inclusive


def test_calibrated_mbre_weighs_the_groups_preference_and_the_verdict_alike():
    group = dist(["a", "b", "c"], [0.6, 0.1, 0.1, 0.2])
    assert preference([group], "a") == pytest.approx(0.6 / 0.8)
    assert preference([group], "z") is None
    verdicts = [support("a", 0.7), support("b", 0.9)]
    outcome = decided(policy="calibrated", extractions=[group], verdicts=verdicts)
    assert outcome.scores["a"] == pytest.approx(odds_mean(0.7, 0.75))
    assert outcome.scores["b"] == pytest.approx(odds_mean(0.9, 1 / 3))
    assert (outcome.label, outcome.rule) == ("a", "scored")
    assert leader("mbre", [group], verdicts) == "a"


def test_calibrated_distributions_win_over_the_models_own():
    group = dist(["a", "b"], [0.7, 0.1, 0.2], calibrated=[0.2, 0.2, 0.6])
    assert best_group_labels([group]) == ["a"]  # ties keep the first offered
    assert preference([group], "a") == pytest.approx(0.25)
    assert candidate_scores("mbre", [group], [support("a", 0.9)]) == pytest.approx(
        {"a": odds_mean(0.9, 0.25)}
    )


def test_a_group_without_logprobs_counts_by_its_answer_alone():
    answered = ext("b")
    assert best_group_labels([answered]) == ["b"]
    assert preference([answered], "b") == 1.0 and preference([answered], "a") == 0.0
    none = ext(None)
    assert preference([none], "a") == 0.0 and best_group_labels([none]) == ["a"]
    assert best_group_labels([ext(None, abstained=True)]) == []


def test_a_group_names_a_candidate_only_above_its_share_of_chance():
    """Three labels and none: a chance share is 1/4, so at 1.5 a candidate needs 0.375."""
    clear = dist(["a", "b", "c"], [0.4, 0.3, 0.1, 0.2])
    spread = dist(["a", "b", "c"], [0.35, 0.3, 0.15, 0.2])
    assert best_group_labels([clear, spread], min_share=1.5) == ["a"]
    assert best_group_labels([clear, spread]) == ["a", "a"]
    recalibrated = dist(["a", "b", "c"], [0.9, 0.0, 0.0, 0.1], calibrated=[0.3, 0.3, 0.2, 0.2])
    assert best_group_labels([recalibrated], min_share=1.5) == []
    assert best_group_labels([ext("b")], min_share=1.5) == ["b"]  # no logprobs: its answer, at 1


def test_calibrated_gives_no_relation_when_nothing_was_proposed_and_nothing_failed():
    flat = dist(["a", "b", "c"], [0.25, 0.25, 0.25, 0.25])
    assert decide(policy="calibrated", extractions=[flat]) == ("Other", None, "no_candidate")
    failed = [flat, ext(None, abstained=True)]
    assert decide(policy="calibrated", extractions=failed) == (None, None, "abstained")


def test_calibrated_skips_abstained_verdicts_and_abstains_when_nothing_is_left():
    verdicts = [Verdict(label="a", holds=False, abstained=True), support("b", 0.8)]
    assert decide(strategy="binary", policy="calibrated", verdicts=verdicts)[:1] == ("b",)
    assert decide(strategy="binary", policy="calibrated", verdicts=verdicts[:1]) == (None, None, "abstained")
    assert decide(policy="calibrated", extractions=[ext(None, abstained=True)]) == (None, None, "abstained")


def test_calibrated_multiclass_keeps_its_best_label_when_it_beats_none():
    answer = dist(["a", "b"], [0.5, 0.2, 0.3])
    assert decide(strategy="multiclass", policy="calibrated", extractions=[answer]) == (
        "a",
        pytest.approx(0.5 / 0.8),
        "scored",
    )
    weaker = dist(["a", "b"], [0.3, 0.2, 0.5])
    assert decide(strategy="multiclass", policy="calibrated", extractions=[weaker]) == (
        "Other",
        pytest.approx(0.3 / 0.8),
        "below_threshold",
    )


def test_group_weight_sets_how_much_the_group_answer_counts_beside_the_verifier():
    group = dist(["a", "b"], [0.9, 0.05, 0.05])  # the group all but certain of a
    verdicts = [support("a", 0.4), support("b", 0.8)]  # the verifier leaning to b
    equal = decided(policy="calibrated", extractions=[group], verdicts=verdicts)
    assert equal.label == "a" and equal.scores["a"] == pytest.approx(odds_mean(0.4, 0.9 / 0.95))
    alone = decided(policy="calibrated", extractions=[group], verdicts=verdicts, group_weight=0.0)
    assert alone.scores == pytest.approx({"a": 0.4, "b": 0.8}) and alone.label == "b"
    double = candidate_scores("mbre", [group], verdicts, group_weight=2.0)
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    expected = 1 / (1 + math.exp(-(logit(0.4) + 2 * logit(0.9 / 0.95)) / 3))
    assert double["a"] == pytest.approx(expected)
    assert leader("mbre", [group], verdicts) == "a"
    assert leader("mbre", [group], verdicts, group_weight=0.0) == "b"


def test_group_weight_leaves_the_baselines_alone():
    group = dist(["a", "b"], [0.9, 0.05, 0.05])
    verdicts = [support("a", 0.4), support("b", 0.8)]
    for weight in (0.0, 1.0, 3.0):
        assert candidate_scores("binary", [], verdicts, weight) == pytest.approx({"a": 0.4, "b": 0.8})
        assert candidate_scores("multiclass", [group], [], weight) == pytest.approx({"a": 0.9 / 0.95})


def test_preferred_labels_rank_every_asked_label_by_its_share_of_chance():
    """A label's probability times its group's options, so 0.3 of three options (0.9) ranks below 0.5 of
    two (1.0); "none" is never a label, and an abstention offers none."""
    small = dist(["a"], [0.5, 0.5])  # a: 0.5 x 2 options = 1.0
    large = Extraction(
        group=1, labels=["b", "c"], label="b", confidence=0.3, probabilities=[0.3, 0.1, 0.6]
    )  # b: 0.9, c: 0.3
    failed = Extraction(group=2, labels=["d"], label=None, confidence=None, abstained=True)
    assert preferred_labels([large, small, failed]) == ["a", "b", "c"]
    assert preferred_labels([failed]) == []


def test_undecided_until_a_score_reaches_its_threshold():
    verdicts = [support("a", 0.7), support("b", 0.8)]
    assert undecided("binary", [], [], 0.75, {})
    assert not undecided("binary", [], verdicts, 0.75, {})
    assert undecided("binary", [], verdicts, 0.85, {})
    assert not undecided("binary", [], verdicts, 0.85, {"a": 0.6})  # a per-label threshold decides
    assert undecided("binary", [], verdicts, 0.5, {"a": 0.9, "b": 0.9})


def test_calibrated_without_any_probability_claims_no_confidence():
    """confidence="none": the answers decide, no score or threshold is made up (never 0.999999)."""
    unscored = [yes("b", None), yes("a", None)]
    result = decided("mbre", "calibrated", extractions=[ext("b", confidence=None)], verdicts=unscored)
    assert (result.label, result.confidence, result.rule, result.scores) == ("b", None, "unscored", {})
    nothing = decided("binary", "calibrated", verdicts=[no("a"), no("b")])
    assert (nothing.label, nothing.confidence, nothing.rule) == ("Other", None, "no_candidate")
    multiclass = decided("multiclass", "calibrated", extractions=[ext("a", confidence=None)])
    assert (multiclass.label, multiclass.confidence, multiclass.rule) == ("a", None, "unscored")
