"""The epsilon sweep of the label decision, replayed from the verdicts a run recorded.

Every sample keeps its extractions and verdicts with their confidences, so trying another epsilon is a
re-decision, not another LLM call: a user can pick a threshold from one run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mbre.nodes.decide import decide_label
from mbre.schemas import Sample

#: The thresholds the paper's analysis looks at.
EPSILONS = (0.001, 0.01, 0.02, 0.05, 0.1)


def parse_epsilons(text: str) -> list[float]:
    """`"0.01,0.1,0.3"` as thresholds, ascending; each in [0, 1], at least one."""
    epsilons = set()
    for item in text.split(","):
        try:
            epsilon = float(item)
        except ValueError:
            epsilon = -1.0
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilons must be numbers from 0 to 1, comma-separated; got {item.strip()!r}")
        epsilons.add(epsilon)
    return sorted(epsilons)


@dataclass(frozen=True)
class SweepRow:
    epsilon: float
    kept: float
    """Share of the sentences that get a label (the rest abstain)."""
    precision: float | None
    """Share of the kept labels that equal the gold label; None when nothing is kept or no gold is known."""


def epsilon_sweep(
    samples: Sequence[Sample], no_relation: str, epsilons: Sequence[float] = EPSILONS
) -> list[SweepRow]:
    """Re-decide every sample at each epsilon with the policy it was run with."""
    if not samples:
        raise ValueError("no samples to sweep")
    rows = []
    for epsilon in epsilons:
        kept = correct = judged = 0
        for sample in samples:
            label, _, _ = decide_label(
                strategy=sample.provenance.strategy,  # type: ignore[arg-type]
                policy=sample.provenance.decision_policy,  # type: ignore[arg-type]
                epsilon=epsilon,
                no_relation=no_relation,
                extractions=sample.decision.extractions,
                verdicts=sample.decision.verdicts,
            )
            if label is None:
                continue
            kept += 1
            if sample.gold is not None:
                judged += 1
                correct += label == sample.gold
        rows.append(
            SweepRow(
                epsilon=epsilon, kept=kept / len(samples), precision=correct / judged if judged else None
            )
        )
    return rows
