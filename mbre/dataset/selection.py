"""Which samples a person should check first. Doubt comes in tiers: the sentences mbre gave no label
(abstained, or ambiguous: several labels verified and none sure enough), then labels below a confidence,
then samples whose group answers and verifier disagree (the groups proposed other labels than the verifier
accepted) or where some answer did not parse; the rest last, least confident first."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from mbre.errors import SettingError
from mbre.schemas.options import ReviewSelection
from mbre.schemas.results import Sample

#: Below this confidence a label counts as low (the paper's rule keeps labels at 1 - epsilon = 0.9).
LOW_CONFIDENCE = 0.9


@dataclass(frozen=True)
class Doubt:
    """Why a sample is worth a look; tier 0 first, tier 3 holds the samples nothing speaks against."""

    tier: int
    reason: str


def doubt(sample: Sample, low_confidence: float = LOW_CONFIDENCE) -> Doubt:
    decision = sample.decision
    if sample.relation is None:
        return Doubt(0, "ambiguous" if decision.rule == "ambiguous" else "abstained")
    if sample.confidence is not None and sample.confidence < low_confidence:
        return Doubt(1, f"confidence below {low_confidence}")
    if sample.confidence is None and sample.confidence_source == "none":
        return Doubt(1, "no confidence: the run had none")
    proposed = {e.label for e in decision.extractions if e.label is not None}
    verified = {v.label for v in decision.verdicts if v.holds}
    if decision.extractions and decision.verdicts and proposed != verified:
        return Doubt(2, "groups and verifier disagree")
    if decision.abstentions:
        return Doubt(2, "some answers did not parse")
    return Doubt(3, "")


def select_for_review(
    samples: Sequence[Sample],
    how: ReviewSelection,
    *,
    limit: int | None = None,
    seed: int = 0,
    low_confidence: float = LOW_CONFIDENCE,
) -> list[tuple[Sample, Doubt]]:
    """`uncertain`: the doubtful samples, most doubtful first (with `limit`, that many of the doubt order,
    filled up with the least confident others); `all`: run order; `random`: a seeded draw."""
    if limit is not None and limit < 1:
        raise SettingError(f"--limit must be at least 1, not {limit}")
    rated = [(sample, doubt(sample, low_confidence)) for sample in samples]
    if how == "random":
        return random.Random(seed).sample(rated, min(limit or len(rated), len(rated)))
    if how == "uncertain":
        order = sorted(
            range(len(rated)),
            key=lambda i: (rated[i][1].tier, _confidence(rated[i][0]), i),
        )
        rated = [rated[i] for i in order]
        if limit is None:
            rated = [(sample, reason) for sample, reason in rated if reason.tier < 3]
    return rated[:limit]


def _confidence(sample: Sample) -> float:
    return -1.0 if sample.confidence is None else sample.confidence
