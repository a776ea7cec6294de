"""The label decision of M-BRe step 3, as a pure function: the decide node, the epsilon sweep and the
routing replay all decide with it, so a replay is the run's own rule on other answers."""

from __future__ import annotations

from mbre.schemas.options import DecisionPolicy, Strategy
from mbre.schemas.results import DecisionRule, Extraction, Verdict


def decide_label(
    *,
    strategy: Strategy,
    policy: DecisionPolicy,
    epsilon: float,
    no_relation: str,
    extractions: list[Extraction],
    verdicts: list[Verdict],
) -> tuple[str | None, float | None, DecisionRule]:
    """The decision rules, as a pure function so each branch can be tested on its own."""
    if strategy == "multiclass":
        if not extractions or extractions[0].abstained:
            return None, None, "abstained"
        answer = extractions[0]
        return answer.label or no_relation, answer.confidence, "multiclass"

    verified = [v for v in verdicts if v.holds]
    if not verified:
        # A failed answer might have been the relation: say so instead of claiming "no relation".
        if any(e.abstained for e in extractions) or any(v.abstained for v in verdicts):
            return None, None, "abstained"
        return no_relation, None, "no_candidate"
    if policy == "first":
        return verified[0].label, verified[0].confidence, "first_verified"
    if len(verified) == 1:
        return verified[0].label, verified[0].confidence, "single"

    def confidence(v: Verdict) -> float:
        return -1.0 if v.confidence is None else v.confidence

    if strategy == "binary":  # the baseline: the most confident yes wins
        best = max(verified, key=confidence)  # max keeps the earliest on ties: retrieval order
        return best.label, best.confidence, "most_confident"
    confident = [v for v in verified if v.confidence is not None and v.confidence >= 1 - epsilon]
    if not confident:
        return None, None, "ambiguous"
    best = max(confident, key=confidence)
    return best.label, best.confidence, "most_confident"
