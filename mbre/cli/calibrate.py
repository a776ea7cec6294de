"""`mbre calibrate`: per-relation thresholds from reviewed samples, and what they keep on them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mbre.cli.console import console
from mbre.cli.options import FormatOpt, NoRelationOpt, SchemaOpt
from mbre.cli.tables import print_rows
from mbre.errors import InputError
from mbre.schemas.table import Rows


def calibrate_command(
    run_dir: Annotated[
        Path,
        typer.Option("--run-dir", help="A run labelled with decision=calibrated.", show_default=False),
    ],
    gold: Annotated[
        Path,
        typer.Option("--gold", help="Reviewed labels of some of its sentences.", show_default=False),
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the thresholds (JSON).")] = Path(
        "thresholds.json"
    ),
    target_precision: Annotated[
        float, typer.Option(help="The precision each relation's kept labels should reach.")
    ] = 0.8,
    min_support: Annotated[
        int, typer.Option(help="Fewer reviewed samples of a relation than this: it takes the default.")
    ] = 5,
    format: FormatOpt = "auto",
    relations: SchemaOpt = None,
    no_relation: NoRelationOpt = None,
) -> None:
    """Pick per-relation thresholds of the calibrated decision from reviewed samples (`--gold`), so that
    each relation's kept labels reach --target-precision; `discover --thresholds` then applies them. The
    run's recorded scores are replayed: no LLM call. Reviewed sentences must read as the run's (another
    text under a run's id is refused; ids the run lacks are reported), the run must have been labelled
    with this schema, and the thresholds record that schema, so no other schema takes them."""
    from mbre.evaluation.gold import load_gold
    from mbre.evaluation.replays import redecide
    from mbre.evaluation.thresholds import check_run_schema, match_reviewed, pick_thresholds
    from mbre.run.inputs import require_run_schema
    from mbre.run.rundir import RunDir

    run = RunDir(run_dir)
    if not run.samples_file.exists():
        raise InputError(str(run_dir), "not a run directory: it has no samples.jsonl")
    schema = require_run_schema(run_dir, relations, no_relation)
    samples = run.samples()
    check_run_schema(samples, schema)
    reviewed, unknown = match_reviewed(samples, load_gold(gold, format, labels=schema.labels), str(gold))
    if unknown:
        console.print(
            f"[yellow]not in the run[/] {len(unknown)} reviewed sentences, left out: "
            f"{', '.join(map(repr, unknown[:5]))}{' ...' if len(unknown) > 5 else ''}",
            highlight=False,
        )
    picked = pick_thresholds(
        samples,
        reviewed,
        schema.no_relation_label,
        target_precision=target_precision,
        min_support=min_support,
        source=f"{run_dir} reviewed by {gold}",
        schema_hash=schema.sha256,
    )
    picked.check_schema(schema, str(out))
    picked.save(out)
    rows = [
        [label, str(entry.support), f"{entry.threshold:.3f}", str(entry.kept), _number(entry.precision)]
        for label, entry in picked.labels.items()
    ]
    rows.append(["(every other relation)", "", f"{picked.default:.3f}", "", ""])
    title = f"thresholds for precision {target_precision:g}, from {picked.reviewed} reviewed samples"
    print_rows(
        Rows(title=title, headers=["relation", "reviewed", "threshold", "kept", "precision"], rows=rows)
    )
    thresholds = dict(picked.pairs())
    judged = [sample for sample in samples if sample.id in reviewed]
    kept = correct = 0
    for sample in judged:
        label = redecide(
            sample, schema.no_relation_label, threshold=picked.default, thresholds=thresholds
        ).label
        if label is not None and label != schema.no_relation_label:
            kept += 1
            correct += label == reviewed[sample.id]
    console.print(
        f"replayed on the {len(judged)} reviewed samples: {kept} positive labels kept, precision "
        f"{_number(correct / kept if kept else None)}; thresholds written to {out}",
        highlight=False,
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
