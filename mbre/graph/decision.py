"""The label decision of M-BRe step 3, as pure functions of the recorded answers: the decide node, the
replays (epsilon, routing, thresholds) and `mbre calibrate` all decide with them, so a replay is the run's
own rule on other answers or other thresholds.

Two policies decide from the verified candidates as the paper does (`paper`, `first`). `calibrated` scores
every candidate instead of counting yeses: the calibrated probability that the verifier says yes, and for
M-BRe, as far as `group_weight` says, also how strongly its group preferred it to "none"; the best-scored
candidate is the label if its score reaches its threshold, else the no-relation label.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mbre.schemas.answers import NONE_LABEL
from mbre.schemas.options import DecisionPolicy, Strategy
from mbre.schemas.results import DecisionRule, Extraction, Verdict

#: Keeps log-odds finite for probabilities of exactly 0 or 1.
_EDGE = 1e-6


@dataclass(frozen=True)
class Decided:
    label: str | None
    """None: abstained."""
    confidence: float | None
    rule: DecisionRule
    scores: dict[str, float]
    """decision="calibrated": every scored candidate's score."""


def _logit(p: float) -> float:
    p = min(max(p, _EDGE), 1 - _EDGE)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def preference(extractions: Sequence[Extraction], label: str) -> float | None:
    """How strongly the group that offered `label` preferred it to "none": p(label) / (p(label) + p(none))
    in its (calibrated) distribution. None when no answered group offered it."""
    for extraction in extractions:
        distribution = extraction.distribution()
        if label in distribution:
            mass = distribution[label] + distribution[NONE_LABEL]
            return distribution[label] / mass if mass > 0 else 0.0
    return None


def candidate_scores(
    strategy: Strategy,
    extractions: Sequence[Extraction],
    verdicts: Sequence[Verdict],
    group_weight: float = 1.0,
) -> dict[str, float]:
    """Each answered candidate's score in [0, 1]. Binary: the verifier's support. M-BRe: the weighted
    geometric mean of the odds of the verifier's support (weight 1) and of the group's preference (weight
    `group_weight`): at 1 both must lean towards the label, at 0 the group only proposes candidates and
    the verifier ranks them. Multiclass: the preference of its one question's best label."""
    if strategy == "multiclass":
        distribution = extractions[0].distribution() if extractions else {}
        positive = {label: p for label, p in distribution.items() if label != NONE_LABEL}
        if not positive:
            return {}
        best = max(positive, key=lambda label: positive[label])
        score = preference(extractions, best)
        return {} if score is None else {best: score}
    scores: dict[str, float] = {}
    for verdict in verdicts:
        support = verdict.support()
        if support is None:
            continue
        group = preference(extractions, verdict.label) if strategy == "mbre" and group_weight else None
        if group is None:
            scores[verdict.label] = support
        else:
            odds = (_logit(support) + group_weight * _logit(group)) / (1 + group_weight)
            scores[verdict.label] = _sigmoid(odds)
    return scores


def best_group_labels(extractions: Sequence[Extraction], min_share: float = 0.0) -> list[str]:
    """decision="calibrated": each answered group's candidate, the positive label it prefers most, if the
    group gives it at least `min_share` times a chance share (1 / its options, "none" included)."""
    labels = []
    for extraction in extractions:
        distribution = extraction.distribution()
        positive = {label: p for label, p in distribution.items() if label != NONE_LABEL}
        if not positive:
            continue
        best = max(positive, key=lambda label: positive[label])
        if positive[best] >= min_share / len(distribution):
            labels.append(best)
    return labels


def preferred_labels(extractions: Sequence[Extraction]) -> list[str]:
    """Every positive label the answered groups were asked about, most preferred first: its probability
    times its group's number of options, so groups of different sizes compare (a chance share is 1)."""
    shares: dict[str, float] = {}
    for extraction in extractions:
        distribution = extraction.distribution()
        for label, p in distribution.items():
            if label != NONE_LABEL:
                shares[label] = p * len(distribution)
    return sorted(shares, key=lambda label: -shares[label])  # sorted is stable: group order on ties


def undecided(
    strategy: Strategy,
    extractions: Sequence[Extraction],
    verdicts: Sequence[Verdict],
    threshold: float,
    thresholds: Mapping[str, float],
    group_weight: float = 1.0,
) -> bool:
    """decision="calibrated": whether no candidate scored so far reaches its threshold. Scores only
    accumulate, so once a label is decided it stays decided."""
    scores = candidate_scores(strategy, extractions, verdicts, group_weight)
    return not any(score >= thresholds.get(label, threshold) for label, score in scores.items())


def decide_label(
    *,
    strategy: Strategy,
    policy: DecisionPolicy,
    epsilon: float,
    no_relation: str,
    extractions: Sequence[Extraction],
    verdicts: Sequence[Verdict],
    threshold: float = 0.5,
    thresholds: Mapping[str, float] | None = None,
    group_weight: float = 1.0,
) -> Decided:
    """The decision rules, as a pure function so each branch can be tested on its own. decision="calibrated":
    `thresholds` override `threshold` per label, and `group_weight` weighs M-BRe's group answers."""
    if policy == "calibrated" and not _scored(extractions, verdicts):
        return _unscored(strategy, no_relation, extractions, verdicts)
    if policy == "calibrated":
        scores = candidate_scores(strategy, extractions, verdicts, group_weight)
        if not scores and not _failed(extractions, verdicts):  # no group named a candidate
            return Decided(no_relation, None, "no_candidate", {})
        return _calibrated(no_relation, scores, threshold, thresholds or {})
    if strategy == "multiclass":
        if not extractions or extractions[0].abstained:
            return Decided(None, None, "abstained", {})
        answer = extractions[0]
        return Decided(answer.label or no_relation, answer.confidence, "multiclass", {})

    verified = [v for v in verdicts if v.holds]
    if not verified:
        # A failed answer might have been the relation: say so instead of claiming "no relation".
        if _failed(extractions, verdicts):
            return Decided(None, None, "abstained", {})
        return Decided(no_relation, None, "no_candidate", {})
    if policy == "first":
        return Decided(verified[0].label, verified[0].confidence, "first_verified", {})
    if len(verified) == 1:
        return Decided(verified[0].label, verified[0].confidence, "single", {})

    def confidence(v: Verdict) -> float:
        return -1.0 if v.confidence is None else v.confidence

    if strategy == "binary":  # the baseline: the most confident yes wins
        best = max(verified, key=confidence)  # max keeps the earliest on ties: retrieval order
        return Decided(best.label, best.confidence, "most_confident", {})
    confident = [v for v in verified if v.confidence is not None and v.confidence >= 1 - epsilon]
    if not confident:
        return Decided(None, None, "ambiguous", {})
    best = max(confident, key=confidence)
    return Decided(best.label, best.confidence, "most_confident", {})


def _scored(extractions: Sequence[Extraction], verdicts: Sequence[Verdict]) -> bool:
    """Whether any answer carries probabilities; without any (confidence="none"), a score would only
    restate the answers as certainties."""
    return any(e.probabilities is not None for e in extractions) or any(v.p_yes is not None for v in verdicts)


def _unscored(
    strategy: Strategy, no_relation: str, extractions: Sequence[Extraction], verdicts: Sequence[Verdict]
) -> Decided:
    """decision="calibrated" without probabilities: the answers decide, and no confidence or threshold is
    made up. Multiclass: its answer; else the first verified candidate (retrieval order)."""
    if strategy == "multiclass":
        if not extractions or extractions[0].abstained:
            return Decided(None, None, "abstained", {})
        return Decided(extractions[0].label or no_relation, None, "unscored", {})
    verified = [v for v in verdicts if v.holds]
    if verified:
        return Decided(verified[0].label, None, "unscored", {})
    if _failed(extractions, verdicts):
        return Decided(None, None, "abstained", {})
    return Decided(no_relation, None, "no_candidate", {})


def _failed(extractions: Sequence[Extraction], verdicts: Sequence[Verdict]) -> bool:
    """Whether an answer that could have named the relation failed to parse."""
    return any(e.abstained for e in extractions) or any(v.abstained for v in verdicts)


def _calibrated(
    no_relation: str, scores: dict[str, float], threshold: float, thresholds: Mapping[str, float]
) -> Decided:
    if not scores:  # every answer that could have named a label failed to parse
        return Decided(None, None, "abstained", {})
    best = max(scores, key=lambda label: scores[label])  # max keeps the earliest on ties
    if scores[best] >= thresholds.get(best, threshold):
        return Decided(best, scores[best], "scored", scores)
    return Decided(no_relation, scores[best], "below_threshold", scores)


def leader(
    strategy: Strategy,
    extractions: Sequence[Extraction],
    verdicts: Sequence[Verdict],
    group_weight: float = 1.0,
) -> str | None:
    """decision="calibrated": the best-scored candidate so far."""
    scores = candidate_scores(strategy, extractions, verdicts, group_weight)
    return max(scores, key=lambda label: scores[label]) if scores else None
