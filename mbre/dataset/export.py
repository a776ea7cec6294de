"""`mbre export` as a function: a run's samples, reviewed labels over them, the keep rule, the confidence
filter and the balance rule, cut into splits if asked, written in one format with its dataset card."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from mbre.dataset.balance import balance
from mbre.dataset.card import CardFacts, dataset_card
from mbre.dataset.formats import WRITERS
from mbre.dataset.labelled import keep_labelled, label_inventory
from mbre.dataset.splits import split_records
from mbre.errors import InputError
from mbre.files import ensure_dir, write_atomic
from mbre.run.rundir import Manifest, RunDir, file_sha256, read_samples, samples_path
from mbre.schemas.options import BalanceRule, ExportFormat, KeepRule
from mbre.schemas.relations import RelationSchema


@dataclass(frozen=True)
class Exported:
    """What was written: the files, the counts per class before and after balancing, the cap, and the
    counts per split."""

    files: list[Path]
    kept: Counter[str]
    exported: Counter[str]
    cap: int | None
    labels: list[str]
    """The class list, in class-id order."""
    splits: dict[str, int]

    @property
    def dropped(self) -> Counter[str]:
        """Samples balancing left out, per class."""
        return self.kept - self.exported


def export_dataset(
    run: Path,
    format: ExportFormat,
    out: Path,
    *,
    balance_rule: BalanceRule = "cap",
    seed: int = 0,
    keep: KeepRule = "all",
    min_confidence: float | None = None,
    reviewed: Path | None = None,
    schema: RelationSchema | None = None,
    no_relation: str | None = None,
    split: tuple[float, float, float] | None = None,
) -> Exported:
    """`schema` fixes the class list and its order (else the labels present, sorted); `split` the train, dev
    and test shares (else one train file)."""
    source = samples_path(run)
    samples = read_samples(source)
    kept = keep_labelled(samples, reviewed=reviewed, keep=keep, min_confidence=min_confidence)
    labels, no_relation = label_inventory(kept.records, schema, no_relation)
    records, cap = balance(kept.records, balance_rule, no_relation, seed)
    ensure_dir(out)
    splits = split_records(records, split, seed) if split else {"train": records}
    files = WRITERS[format](splits, labels, out)
    manifest = RunDir(run).manifest_file if run.is_dir() else None
    facts = CardFacts(
        source=source,
        source_sha256=file_sha256(source),
        input_sha256=_input_sha256(manifest),
        format=format,
        files=files,
        balance=balance_rule,
        cap=cap,
        seed=seed,
        keep=keep,
        min_confidence=min_confidence,
        reviewed_file=reviewed,
        reviewed_sha256=file_sha256(reviewed) if reviewed else None,
        no_relation=no_relation,
        labels=labels,
        schema=schema is not None,
        splits={name: len(part) for name, part in splits.items()},
        split=split,
    )
    card = write_atomic(out / "README.md", dataset_card(samples, kept, records, facts))
    return Exported(
        files=[*files, card],
        kept=Counter(r.relation for r in kept.records),
        exported=Counter(r.relation for r in records),
        cap=cap,
        labels=labels,
        splits={name: len(part) for name, part in splits.items()},
    )


def _input_sha256(manifest: Path | None) -> str | None:
    if manifest is None or not manifest.exists():
        return None
    try:
        return Manifest.model_validate_json(manifest.read_text(encoding="utf-8")).input_sha256
    except ValidationError as exc:
        raise InputError(str(manifest), f"not an mbre manifest: {exc.errors()[0]['msg']}") from exc
