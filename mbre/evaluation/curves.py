"""Precision against yield, replayed from the scores a run recorded: what a stricter or looser threshold
would keep, and how often it would be right, with no LLM call.

A sample's ranked prediction is the positive label it would get at a low enough threshold, with the score
that threshold is held against: for decision="calibrated" the best-scored candidate (kept or not), else the
label it got, with its confidence. Walking the scores down from the highest traces the curve: the yield is
the share of sentences given a positive label, the precision the share of those labels that are gold.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from mbre.schemas.results import Sample

#: The precisions the report gives an operating point for.
TARGETS = (0.5, 0.6, 0.7, 0.8, 0.9)


class CurvePoint(BaseModel):
    threshold: float
    """Keep the positive labels scored at least this."""
    kept: int
    """Sentences that get a positive label."""
    yield_share: float
    """`kept` over all sentences."""
    precision: float
    recall: float
    """Correct positive labels over the gold positive labels."""


def ranked_prediction(sample: Sample, no_relation: str) -> tuple[str, float] | None:
    """The positive label the sample would get at a low enough threshold, and its score."""
    decision = sample.decision
    if decision.scores:
        label = max(decision.scores, key=lambda name: decision.scores[name])
        return (label, decision.scores[label]) if label != no_relation else None
    if decision.label is None or decision.label == no_relation or decision.confidence is None:
        return None
    return decision.label, decision.confidence


def precision_yield(
    samples: Sequence[Sample | None], gold: Sequence[str], no_relation: str
) -> list[CurvePoint]:
    """One point per distinct score, highest first; `gold` parallels `samples`, where None stands for a
    sentence without a sample (it is never kept)."""
    ranked = []
    for sample, truth in zip(samples, gold, strict=True):
        prediction = ranked_prediction(sample, no_relation) if sample is not None else None
        if prediction is not None:
            ranked.append((prediction[1], prediction[0] == truth))
    ranked.sort(key=lambda item: -item[0])
    positives = sum(truth != no_relation for truth in gold)
    points: list[CurvePoint] = []
    correct = 0
    for position, (score, right) in enumerate(ranked, start=1):
        correct += right
        if position < len(ranked) and ranked[position][0] == score:
            continue  # ties enter together
        points.append(
            CurvePoint(
                threshold=score,
                kept=position,
                yield_share=position / len(samples) if samples else 0.0,
                precision=correct / position,
                recall=correct / positives if positives else 0.0,
            )
        )
    return points


def operating_point(points: Sequence[CurvePoint], target: float) -> CurvePoint | None:
    """The point of greatest yield whose precision reaches `target`; None when none does."""
    reaching = [point for point in points if point.precision >= target]
    return max(reaching, key=lambda point: (point.kept, point.threshold)) if reaching else None
