"""`mbre group`: the relation groups of a schema, printed and optionally saved as an artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mbre.cli.console import console
from mbre.cli.options import NoRelationOpt, RelationsOpt, load_inventory
from mbre.cli.tables import print_rows
from mbre.schemas.table import Rows


def group_command(
    relations: RelationsOpt,
    no_relation: NoRelationOpt = None,
    k: Annotated[int | None, typer.Option(help="Number of groups (default: floor(N/6)).")] = None,
    refine: Annotated[bool, typer.Option(help="Swap pass after the paper's greedy placement.")] = True,
    out: Annotated[Path | None, typer.Option(help="Save the grouping artifact (JSON with its hash).")] = None,
) -> None:
    """Split the relation labels into groups of mutually dissimilar relations and print them."""
    inventory = load_inventory(relations, no_relation, k, refine, None)
    grouping = inventory.grouping
    print_rows(
        Rows(
            title=f"{len(inventory.schema.labels)} labels in {grouping.k} groups",
            headers=["group", "labels"],
            rows=[[str(index), "\n".join(labels)] for index, labels in enumerate(grouping.groups)],
        )
    )
    console.print(f"anchors: {', '.join(grouping.anchors) or '-'}   sha256: {grouping.sha256}")
    if out is not None:
        grouping.save(out)
        console.print(f"saved to {out}")
