"""The labels a training set is built from: the run's samples, a reviewer's labels over them (which win), the
keep rule and the confidence filter, and the label inventory with its no-relation label."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mbre.errors import InputError, SettingError
from mbre.schemas.instances import Instance, iter_jsonl, parse_instance
from mbre.schemas.options import KeepRule
from mbre.schemas.relations import NO_RELATION_NAMES, RelationSchema
from mbre.schemas.results import Sample


@dataclass(frozen=True)
class Labelled:
    """One sentence of the training set with its final label; `reviewed` when a person gave it."""

    sample: Sample
    relation: str
    reviewed: bool

    @property
    def confidence(self) -> float | None:
        """mbre's confidence in the label; None when a reviewer changed it, since mbre did not score it."""
        return self.sample.confidence if self.relation == self.sample.relation else None

    @property
    def confidence_source(self) -> str | None:
        return self.sample.confidence_source if self.confidence is not None else None

    def instance(self) -> Instance:
        """The sentence in mbre's input format, labelled."""
        s = self.sample
        return Instance(id=s.id, text=s.text, head=s.head, tail=s.tail, relation=self.relation)


@dataclass(frozen=True)
class Kept:
    """The labelled sentences, and how many samples were left out and why."""

    records: list[Labelled]
    abstained: int
    below_confidence: int
    reviewed: int
    not_kept: int = 0
    """Labels the keep rule left out."""


def read_reviewed(path: str | Path) -> dict[str, tuple[int, Instance]]:
    """Reviewed sentences by id, with their line: each needs its label (`relation`) and a unique id."""
    source = str(path)
    reviewed: dict[str, tuple[int, Instance]] = {}
    for number, record in iter_jsonl(path):
        instance = parse_instance(record, source=source, line=number)
        if instance.relation is None:
            raise InputError(source, "a reviewed sentence needs its label", line=number, field="relation")
        if instance.id in reviewed:
            first = reviewed[instance.id][0]
            raise InputError(
                source, f"duplicate id {instance.id!r} (first on line {first})", line=number, field="id"
            )
        reviewed[instance.id] = (number, instance)
    return reviewed


def keep_labelled(
    samples: Sequence[Sample],
    *,
    reviewed: Path | None = None,
    keep: KeepRule = "all",
    min_confidence: float | None = None,
) -> Kept:
    """Reviewed labels replace discovered ones and are always kept. Of the rest, abstentions are dropped,
    so are the labels `keep` leaves out, and with `min_confidence` the labels whose confidence is below it;
    a label without a confidence (no candidate held, so the no-relation label) is kept, since no score was
    asked of it."""
    by_review = read_reviewed(reviewed) if reviewed else {}
    by_id = {sample.id: sample for sample in samples}
    for key, (line, instance) in by_review.items():
        sample = by_id.get(key)
        if sample is None:
            raise InputError(str(reviewed), f"sentence {key!r} is not in the run", line=line, field="id")
        if (sample.text, sample.head, sample.tail) != (instance.text, instance.head, instance.tail):
            raise InputError(
                str(reviewed),
                f"sentence {key!r} differs from the run's (text, head or tail)",
                line=line,
                field="text",
            )
    records: list[Labelled] = []
    abstained = below = not_kept = 0
    for sample in samples:
        if sample.id in by_review:
            label = by_review[sample.id][1].relation
            assert label is not None  # read_reviewed refuses sentences without one
            records.append(Labelled(sample, label, reviewed=True))
        elif sample.relation is None:
            abstained += 1
        elif not kept_by(keep, sample):
            not_kept += 1
        elif (
            min_confidence is not None
            and sample.confidence is not None
            and sample.confidence < min_confidence
        ):
            below += 1
        else:
            records.append(Labelled(sample, sample.relation, reviewed=False))
    return Kept(
        records, abstained=abstained, below_confidence=below, reviewed=len(by_review), not_kept=not_kept
    )


def kept_by(keep: KeepRule, sample: Sample) -> bool:
    """Whether the keep rule takes the sample's label."""
    if keep == "all":
        return True
    if keep == "confident":
        return sample.decision.rule != "below_threshold"
    return not says_no_relation(sample)


def says_no_relation(sample: Sample) -> bool:
    """Whether mbre decided the no-relation label, known by the decision rule, as a sample does not carry
    that label's name: nothing was verified, no score reached its threshold, or the multiclass answer was
    "none of these"."""
    rule = sample.decision.rule
    return rule in ("no_candidate", "below_threshold") or (
        rule == "multiclass" and sample.decision.extractions[0].label is None
    )


def label_inventory(
    records: Sequence[Labelled], schema: RelationSchema | None, no_relation: str | None
) -> tuple[list[str], str | None]:
    """The class names (the schema's, in its order; else the labels present, sorted) and the no-relation
    label: `no_relation`, else the schema's, else the label of mbre's no-relation decisions,
    else a usual no-relation name among the labels; None when nothing tells."""
    present = sorted({record.relation for record in records})
    labels = list(schema.labels) if schema else present
    if no_relation is None and schema is not None:
        no_relation = schema.no_relation_label
    if no_relation is None:
        by_rule = {r.relation for r in records if not r.reviewed and says_no_relation(r.sample)}
        by_name = [name for name in NO_RELATION_NAMES if name in present]
        no_relation = next(iter(sorted(by_rule)), None) or next(iter(by_name), None)
    if schema is not None:
        unknown = sorted(set(present) - set(labels))
        if unknown:
            raise SettingError(f"labels not in the relation schema: {', '.join(unknown)}")
    return labels, no_relation
