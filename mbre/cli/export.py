"""`mbre export`: a run's samples as a class-balanced training set in a trainer's format, with its card."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mbre.cli.console import console
from mbre.cli.options import (
    BalanceOpt,
    KeepOpt,
    MinConfidenceOpt,
    NoRelationOpt,
    RunArg,
    SchemaOpt,
    SeedOpt,
)
from mbre.cli.tables import print_rows
from mbre.schemas.options import ExportFormat
from mbre.schemas.table import Rows


def export_command(
    run: RunArg,
    format: Annotated[ExportFormat, typer.Option("--format", help="jsonl, opennre, tacred or hf.")],
    out: Annotated[
        Path, typer.Option(help="Directory to write the data and its README.md.", show_default=False)
    ],
    keep: KeepOpt = "all",
    balance: BalanceOpt = "cap",
    min_confidence: MinConfidenceOpt = None,
    reviewed: Annotated[
        Path | None, typer.Option(help="Reviewed sentences (`mbre review import`); their labels win.")
    ] = None,
    seed: SeedOpt = 0,
    relations: SchemaOpt = None,
    no_relation: NoRelationOpt = None,
) -> None:
    """Write the run's labelled samples as a training set: reviewed labels over discovered ones, the keep
    rule and the confidence filter, the paper's class balancing, and a dataset card."""
    from mbre.dataset.export import export_dataset
    from mbre.schemas.relations import RelationSchema

    schema = RelationSchema.from_file(relations, no_relation=no_relation) if relations else None
    result = export_dataset(
        run,
        format,
        out,
        balance_rule=balance,
        seed=seed,
        keep=keep,
        min_confidence=min_confidence,
        reviewed=reviewed,
        schema=schema,
        no_relation=no_relation,
    )
    cap = "" if result.cap is None else f", cap {result.cap}"
    print_rows(
        Rows(
            title=f"{sum(result.exported.values())} samples exported ({format}, balance {balance}{cap})",
            headers=["class", "kept", "exported"],
            rows=[
                [label, str(count), str(result.exported[label])]
                for label, count in sorted(result.kept.items())
            ],
        )
    )
    console.print("wrote " + ", ".join(str(path) for path in result.files))
