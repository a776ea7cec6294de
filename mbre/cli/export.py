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
    split: Annotated[
        str | None,
        typer.Option(
            help="Train, dev and test shares, e.g. 0.8,0.1,0.1: three files, each class cut alike (--seed).",
            show_default=False,
        ),
    ] = None,
    seed: SeedOpt = 0,
    relations: SchemaOpt = None,
    no_relation: NoRelationOpt = None,
) -> None:
    """Write the run's labelled samples as a training set: reviewed labels over discovered ones, the keep
    rule and the confidence filter, the paper's class balancing, the splits, and a dataset card. The class
    list is the run's relation schema, in its order."""
    from mbre.dataset.export import export_dataset
    from mbre.dataset.splits import parse_split
    from mbre.run.inputs import run_schema

    shares = parse_split(split) if split is not None else None
    schema = run_schema(run, relations, no_relation)
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
        split=shares,
    )
    cap = "" if result.cap is None else f", cap {result.cap}"
    print_rows(
        Rows(
            title=f"{sum(result.exported.values())} samples exported ({format}, balance {balance}{cap})",
            headers=["id", "class", "kept", "exported", "dropped"],
            rows=[
                [
                    str(i),
                    label,
                    str(result.kept[label]),
                    str(result.exported[label]),
                    str(result.dropped[label]),
                ]
                for i, label in enumerate(result.labels)
            ],
        )
    )
    dropped = sum(result.dropped.values())
    if dropped:
        console.print(f"balance {balance} left out {dropped} samples: --balance none keeps every one")
    if schema is None:
        console.print(
            "[yellow]no relation schema[/]: the classes are the labels present, sorted; pass --relations "
            "for the schema's full list in its order",
            highlight=False,
        )
    if shares is not None:
        console.print("splits: " + ", ".join(f"{name} {count}" for name, count in result.splits.items()))
    console.print("wrote " + ", ".join(str(path) for path in result.files))
