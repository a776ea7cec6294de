"""The dataset card (README.md) each export writes: where the data came from, how it was filtered and
balanced, the counts per class, and the hashes that tie it to the run's model, prompts, schema, grouping."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mbre.dataset.labelled import Kept, Labelled
from mbre.schemas.options import KeepRule
from mbre.schemas.results import Sample


@dataclass(frozen=True)
class CardFacts:
    """What the card says beyond the records themselves."""

    source: Path
    source_sha256: str
    input_sha256: str | None
    format: str
    files: list[Path]
    balance: str
    cap: int | None
    seed: int
    keep: KeepRule
    min_confidence: float | None
    reviewed_file: Path | None
    reviewed_sha256: str | None
    no_relation: str | None
    labels: list[str]
    """The class list, in class-id order."""
    schema: bool
    """Whether the class list is the schema's (else the labels present, sorted)."""
    splits: dict[str, int]
    split: tuple[float, float, float] | None


def dataset_card(
    samples: Sequence[Sample], kept: Kept, exported: Sequence[Labelled], facts: CardFacts
) -> str:
    before = Counter(record.relation for record in kept.records)
    after = Counter(record.relation for record in exported)
    lines = [
        f"# Relation-extraction training set ({facts.format})",
        "",
        f"Made by `mbre export` from `{facts.source}` (sha256 `{facts.source_sha256}`).",
        "",
        "## Contents",
        "",
        f"- Files: {', '.join(f'`{path.name}`' for path in facts.files)}",
        f"- Samples in the run: {len(samples)}; abstentions left out: {kept.abstained}",
        f"- Reviewed labels: {kept.reviewed}"
        + (
            f" from `{facts.reviewed_file}` (sha256 `{facts.reviewed_sha256}`), overriding mbre's"
            if facts.reviewed_file
            else ""
        ),
        f"- Keep rule: {facts.keep}; labels it left out: {kept.not_kept}",
        "- Confidence filter: "
        + (
            f"labels below {facts.min_confidence} left out ({kept.below_confidence}); labels without a "
            "confidence kept"
            if facts.min_confidence is not None
            else "none"
        ),
        f"- Balance: {_balance_text(facts)}",
        f"- No-relation label: {facts.no_relation or 'unknown'}",
        f"- Samples exported: {len(exported)}",
        f"- Splits: {_splits_text(facts)}",
        "- Each row keeps the input's other fields, `confidence` (mbre's, of the label; none where a "
        "reviewer changed it), `confidence_source` and `reviewed`",
        "",
        "## Classes",
        "",
        "Class ids in this order"
        + (
            " (the relation schema's: every relation, whether or not a sample has it)."
            if facts.schema
            else " (the labels present, sorted: the run kept no schema and none was given)."
        ),
        "",
        "| id | class | kept | exported | dropped by balancing |",
        "| ---: | --- | ---: | ---: | ---: |",
        *(
            f"| {i} | {label} | {before[label]} | {after[label]} | {before[label] - after[label]} |"
            for i, label in enumerate(facts.labels)
        ),
        "",
        *_dropped_text(before, after),
        "## Provenance",
        "",
        *(f"- {name}: {_values(samples, name)}" for name in type(samples[0].provenance).model_fields),
    ]
    if facts.input_sha256:
        lines.append(f"- input file sha256: {facts.input_sha256}")
    return "\n".join(lines) + "\n"


def _splits_text(facts: CardFacts) -> str:
    counts = ", ".join(f"{name} {count}" for name, count in facts.splits.items())
    if facts.split is None:
        return f"none ({counts})"
    shares = ", ".join(f"{share:g}" for share in facts.split)
    return f"{counts}: shares {shares} of every class (label-stratified, seed {facts.seed})"


def _dropped_text(before: Counter[str], after: Counter[str]) -> list[str]:
    dropped = sum((before - after).values())
    if not dropped:
        return []
    return [f"Balancing left out {dropped} samples; `--balance none` keeps every one.", ""]


def _balance_text(facts: CardFacts) -> str:
    if facts.balance == "none":
        return "none"
    what = "every class capped at" if facts.balance == "cap" else "every positive kept, no-relation down to"
    return (
        f"`{facts.balance}`: {what} {facts.cap}, the mean count of the positive classes rounded down "
        f"(seed {facts.seed})"
    )


def _values(samples: Sequence[Sample], field: str) -> str:
    values = sorted({str(getattr(sample.provenance, field)) for sample in samples})
    return ", ".join(f"`{value}`" for value in values)
