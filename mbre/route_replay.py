"""What asking fewer groups (`route_top_k`) costs in recall, replayed from a run that asked every group.

Such a run records every group's answer and every candidate's verdict, so the label a sentence would get if
only the groups `route(ranking, m)` picks had been asked is a re-decision on a subset of those answers: the
comparison costs no LLM call, and every m is judged on exactly the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mbre.inventory import Inventory
from mbre.metrics import accuracy, prf
from mbre.nodes.decide import decide_label
from mbre.schemas import Instance, Sample

#: The routing widths the evaluation replays besides "every group".
TOP_KS = (1, 2, 3)


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


def replay(sample: Sample, inventory: Inventory, top_k: int | None) -> Replayed:
    """Re-decide `sample` as if the route node had been run with `route_top_k=top_k`.

    The kept groups are those `mbre.nodes.route` asks; their candidates keep the run's order (that of
    routing, whose top-k order is a prefix of the full one), and each candidate keeps its recorded verdict.
    """
    if sample.provenance.strategy != "mbre":
        raise ValueError(f"sample {sample.id}: only an mbre run has group answers to replay")
    instance = Instance(id=sample.id, text=sample.text, head=sample.head, tail=sample.tail)
    routed = inventory.index.route(inventory.index.rank(instance), top_k)
    groups = [group for group in routed if inventory.asked_labels(group)]
    decision = sample.decision
    missing = set(groups) - {extraction.group for extraction in decision.extractions}
    if missing:
        raise ValueError(
            f"sample {sample.id}: the run did not ask group(s) {sorted(missing)}; the replay needs a run "
            "that asked every group (route_top_k unset)"
        )
    extractions = [extraction for extraction in decision.extractions if extraction.group in groups]
    candidates = [label for label in decision.candidates if inventory.grouping.group_of(label) in groups]
    recorded = {verdict.label: verdict for verdict in decision.verdicts}
    verdicts = [recorded[label] for label in candidates if label in recorded]
    label, _, _ = decide_label(
        strategy="mbre",
        policy=sample.provenance.decision_policy,  # type: ignore[arg-type]
        epsilon=sample.provenance.epsilon,
        no_relation=inventory.schema.no_relation_label,
        extractions=extractions,
        verdicts=verdicts,
    )
    return Replayed(label=label, groups=len(groups), calls=len(extractions) + len(verdicts))


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
