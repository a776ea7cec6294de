"""`mbre calibrate`: per-relation thresholds picked from reviewed samples, so that a threshold means a
precision.

A run labelled with decision="calibrated" records every candidate's score, so any threshold can be replayed
on its samples without an LLM call. For each relation, among the reviewed samples whose best candidate is
that relation, the lowest threshold whose kept labels reach the target precision is picked: the most
samples at that precision. Relations with fewer reviewed samples than `min_support` fall back to the
threshold picked the same way over all relations.

Ids alone do not tie a reviewed file to a run: its sentences must be the run's (`match_reviewed`), and the
run must have been asked with the schema the thresholds are written for (`check_run_schema`).
"""

from __future__ import annotations

from collections.abc import Sequence

from mbre.errors import InputError, SettingError
from mbre.evaluation.curves import ranked_prediction
from mbre.schemas.instances import Instance
from mbre.schemas.relations import RelationSchema
from mbre.schemas.results import Sample
from mbre.schemas.thresholds import LabelThreshold, Thresholds

#: Fewer reviewed samples than this for a relation, and its threshold is the default.
MIN_SUPPORT = 5
#: A threshold that keeps nothing: for a target no score reaches.
NEVER = 1.0


def _lowest_reaching(scored: Sequence[tuple[float, bool]], target: float) -> tuple[float, int, float | None]:
    """The lowest threshold whose kept (score >= threshold) labels reach `target` precision, with how many
    it keeps and their precision; (NEVER, 0, None) when no threshold does."""
    ranked = sorted(scored, key=lambda item: -item[0])
    best: tuple[float, int, float | None] = (NEVER, 0, None)
    correct = 0
    for position, (score, right) in enumerate(ranked, start=1):
        correct += right
        if position < len(ranked) and ranked[position][0] == score:
            continue  # a threshold keeps all of a tie or none of it
        if correct / position >= target:
            best = (score, position, correct / position)
    return best


def pick_thresholds(
    samples: Sequence[Sample],
    gold: dict[str, str],
    no_relation: str,
    *,
    target_precision: float,
    min_support: int = MIN_SUPPORT,
    source: str = "",
    schema_hash: str = "",
) -> Thresholds:
    """Thresholds for the reviewed `samples` (`gold`: sentence id -> reviewed label)."""
    if not 0 < target_precision <= 1:
        raise SettingError(f"the target precision must be in (0, 1], not {target_precision}")
    unscored = [sample.id for sample in samples if sample.provenance.decision_policy != "calibrated"]
    if unscored:
        raise SettingError(
            f"{len(unscored)} samples (e.g. {unscored[0]!r}) were not labelled with decision=calibrated, "
            "so they carry no scores to pick thresholds from"
        )
    blind = [sample.id for sample in samples if sample.confidence_source == "none"]
    if blind:
        raise SettingError(
            f"{len(blind)} samples (e.g. {blind[0]!r}) were labelled without any confidence "
            "(confidence_source none), so they carry no scores to pick thresholds from: label with "
            "confidence = auto, logprobs, sampled or verbalized"
        )
    by_label: dict[str, list[tuple[float, bool]]] = {}
    reviewed = 0
    for sample in samples:
        if sample.id not in gold:
            continue
        reviewed += 1
        prediction = ranked_prediction(sample, no_relation)
        if prediction is not None:
            label, score = prediction
            by_label.setdefault(label, []).append((score, gold[sample.id] == label))
    if not reviewed:
        raise SettingError("none of the run's samples is among the reviewed sentences (no id in common)")
    every = [item for scored in by_label.values() for item in scored]
    default, _, _ = _lowest_reaching(every, target_precision)
    labels = {}
    for label, scored in sorted(by_label.items()):
        if len(scored) < min_support:
            continue
        threshold, kept, precision = _lowest_reaching(scored, target_precision)
        labels[label] = LabelThreshold(
            threshold=threshold, precision=precision, kept=kept, support=len(scored)
        )
    return Thresholds(
        target_precision=target_precision,
        default=default,
        labels=labels,
        reviewed=reviewed,
        source=source,
        schema_hash=schema_hash,
    )


def match_reviewed(
    samples: Sequence[Sample], reviewed: Sequence[Instance], source: str
) -> tuple[dict[str, str], list[str]]:
    """The reviewed labels by id, and the reviewed ids the run does not have. A reviewed sentence whose
    text or entities differ from the run's sample of its id comes from another corpus (or its ids were
    swapped): an `InputError` naming the id and both texts, since thresholds picked on it mean nothing."""
    by_id = {sample.id: sample for sample in samples}
    labels: dict[str, str] = {}
    unknown: list[str] = []
    for instance in reviewed:
        sample = by_id.get(instance.id)
        if sample is None:
            unknown.append(instance.id)
            continue
        if (sample.text, sample.head, sample.tail) != (instance.text, instance.head, instance.tail):
            what = "text" if sample.text != instance.text else "head or tail"
            raise InputError(
                source,
                f"sentence {instance.id!r} differs from the run's ({what}): reviewed {instance.text!r} "
                f"(head {instance.head.name!r}, tail {instance.tail.name!r}), run {sample.text!r} (head "
                f"{sample.head.name!r}, tail {sample.tail.name!r}): review the run's own sentences",
                field="id",
            )
        labels[instance.id] = str(instance.relation)
    return labels, unknown


def check_run_schema(samples: Sequence[Sample], schema: RelationSchema) -> None:
    """Refuse a run labelled with another relation schema than `schema`: its scores answer other
    definitions, and its labels may not be this schema's."""
    other = next((s for s in samples if s.provenance.schema_hash != schema.sha256), None)
    if other is not None:
        raise InputError(
            schema.source,
            f"the run was labelled with another relation schema (sample {other.id!r}: sha256 "
            f"{other.provenance.schema_hash[:12]}, not {schema.sha256[:12]}): pass the run's own --relations",
        )
