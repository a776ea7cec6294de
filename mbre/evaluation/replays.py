"""Other settings replayed from a run's recorded answers, with no LLM call: the epsilon sweep of the label
decision, and what asking fewer groups (`route_top_k`) costs in recall.

Every sample keeps its extractions and verdicts with their confidences, so another epsilon is a re-decision
(a user can pick a threshold from one run). A run that asked every group also holds the answers of any
narrower routing: the label a sentence would get if only the groups `groups_to_ask(..., m)` picks had been
asked is a re-decision on a subset of those answers, so every m is judged on exactly the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mbre.errors import MbreError, SettingError
from mbre.evaluation.metrics import accuracy, prf
from mbre.graph.decision import Decided, decide_label
from mbre.inventory.inventory import Inventory
from mbre.schemas.instances import Instance
from mbre.schemas.options import EPSILONS
from mbre.schemas.results import Extraction, Sample, Verdict

#: The routing widths the evaluation replays besides "every group".
TOP_KS = (1, 2, 3)


class ReplayError(MbreError):
    """The samples cannot be replayed so: another strategy, or a run that did not ask every group."""


@dataclass(frozen=True)
class Replayed:
    """One sentence's label with only some groups asked, and the answers that took."""

    label: str | None
    groups: int
    calls: int
    """Group answers plus verdicts; a re-ask of an unparseable answer is not recorded on its own, so it
    is not counted."""


@dataclass(frozen=True)
class RouteRow:
    top_k: int | None
    """None: every group, i.e. the run itself."""
    groups_per_sentence: float
    calls_per_sentence: float
    accuracy: float
    recall: float
    """Micro recall over the positive labels (`metrics.prf`)."""
    f1: float
    """Micro F1 over the positive labels."""
    macro_f1: float
    recall_lost: float
    """Recall with every group asked minus this row's recall."""


def redecide(
    sample: Sample,
    no_relation: str,
    *,
    epsilon: float | None = None,
    threshold: float | None = None,
    thresholds: Mapping[str, float] | None = None,
    extractions: Sequence[Extraction] | None = None,
    verdicts: Sequence[Verdict] | None = None,
) -> Decided:
    """`sample` decided again by the rule it was labelled with, on its own answers or on a subset of them,
    with another epsilon or other thresholds: no LLM call."""
    origin = sample.provenance
    return decide_label(
        strategy=origin.strategy,
        policy=origin.decision_policy,
        epsilon=origin.epsilon if epsilon is None else epsilon,
        no_relation=no_relation,
        extractions=sample.decision.extractions if extractions is None else extractions,
        verdicts=sample.decision.verdicts if verdicts is None else verdicts,
        threshold=origin.threshold if threshold is None else threshold,
        thresholds=dict(origin.thresholds) if thresholds is None else thresholds,
        group_weight=origin.group_weight,
    )


def replay(sample: Sample, inventory: Inventory, top_k: int | None) -> Replayed:
    """Re-decide `sample` as if the route node had been run with `route_top_k=top_k`.

    The kept groups are those the route node asks (`Inventory.groups_to_ask`); their candidates keep the
    run's order (that of routing, whose top-k order is a prefix of the full one), and each candidate keeps
    its recorded verdict, as does a recorded inverse of one of them (the contrast step's).
    """
    if sample.provenance.strategy != "mbre":
        raise ReplayError(f"sample {sample.id}: only an mbre run has group answers to replay")
    instance = Instance(id=sample.id, text=sample.text, head=sample.head, tail=sample.tail)
    groups = inventory.groups_to_ask(instance, "mbre", top_k).groups
    decision = sample.decision
    missing = set(groups) - {extraction.group for extraction in decision.extractions}
    if missing:
        raise ReplayError(
            f"sample {sample.id}: the run did not ask group(s) {sorted(missing)}; the replay needs a run "
            "that asked every group (route_top_k unset)"
        )
    extractions = [extraction for extraction in decision.extractions if extraction.group in groups]
    kept = {label for label in decision.candidates if inventory.grouping.group_of(label) in groups}
    kept |= {inverse for label in kept if (inverse := inventory.schema.inverse_of(label)) is not None}
    verdicts = [verdict for verdict in decision.verdicts if verdict.label in kept]
    decided = redecide(sample, inventory.schema.no_relation_label, extractions=extractions, verdicts=verdicts)
    return Replayed(label=decided.label, groups=len(groups), calls=len(extractions) + len(verdicts))


def route_replay(
    samples: Sequence[Sample], gold: Sequence[str], inventory: Inventory, top_ks: Sequence[int] = TOP_KS
) -> list[RouteRow]:
    """One row for every group, then one per routing width in `top_ks`; `gold` parallels `samples`."""
    if len(samples) != len(gold):
        raise ValueError(f"{len(samples)} samples but {len(gold)} gold labels")
    no_relation = inventory.schema.no_relation_label
    rows: list[RouteRow] = []
    for top_k in [None, *sorted(set(top_ks))]:
        replayed = [replay(sample, inventory, top_k) for sample in samples]
        pred = [r.label for r in replayed]
        scores = prf(gold, pred, no_relation=no_relation)
        recall_all = rows[0].recall if rows else scores.micro.recall
        rows.append(
            RouteRow(
                top_k=top_k,
                groups_per_sentence=sum(r.groups for r in replayed) / len(replayed),
                calls_per_sentence=sum(r.calls for r in replayed) / len(replayed),
                accuracy=accuracy(gold, pred),
                recall=scores.micro.recall,
                f1=scores.micro.f1,
                macro_f1=scores.macro.f1,
                recall_lost=recall_all - scores.micro.recall,
            )
        )
    return rows


def parse_epsilons(text: str) -> list[float]:
    """`"0.01,0.1,0.3"` as thresholds, ascending; each in [0, 1], at least one."""
    epsilons = set()
    for item in text.split(","):
        try:
            epsilon = float(item)
        except ValueError:
            epsilon = -1.0
        if not 0.0 <= epsilon <= 1.0:
            raise SettingError(f"epsilons must be numbers from 0 to 1, comma-separated; got {item.strip()!r}")
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
        raise ReplayError("no samples to sweep")
    rows = []
    for epsilon in epsilons:
        kept = correct = judged = 0
        for sample in samples:
            label = redecide(sample, no_relation, epsilon=epsilon).label
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
