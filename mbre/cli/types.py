"""`mbre types`: derive each relation's `head_types` and `tail_types` from labelled examples."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mbre.cli.console import console
from mbre.cli.options import NoRelationOpt, RelationsOpt
from mbre.cli.tables import print_rows
from mbre.schemas.table import Rows


def types_command(
    relations: RelationsOpt,
    examples: Annotated[
        Path,
        typer.Option(
            help="Labelled examples with entity types: an entity-annotated corpus with relations, or "
            "discover's input with relation and typed head and tail.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option(help="The relation schema with the types added.", show_default=False)],
    min_count: Annotated[
        int, typer.Option(min=1, help="Leave out types seen fewer times with a relation.")
    ] = 1,
    no_relation: NoRelationOpt = None,
) -> None:
    """Write --relations to --out with the entity types each relation's head and tail had in --examples,
    for `mbre pairs` and --narrow-by-type. A relation without typed examples stays open to any type."""
    from mbre.pairs.constraints import observe, write_typed_schema
    from mbre.schemas.relations import RelationSchema

    schema = RelationSchema.from_file(relations, no_relation=no_relation)
    observed = observe(examples)
    chosen = write_typed_schema(relations, schema, observed, out, min_count=min_count)
    rows = [
        [
            label,
            ", ".join(types[0]) if types else "any",
            ", ".join(types[1]) if types else "any",
            str(observed.examples[label]),
        ]
        for label, types in chosen.items()
    ]
    print_rows(
        Rows(
            title=f"entity types from {examples}",
            headers=["relation", "head types", "tail types", "examples"],
            rows=rows,
        )
    )
    unknown = sorted(set(observed.examples) - set(schema.labels))
    if unknown:
        console.print(f"[yellow]not in the schema, ignored:[/] {', '.join(unknown)}", highlight=False)
    if observed.untyped:
        console.print(f"labelled pairs without types, ignored: {observed.untyped}")
    console.print(f"written to {out}")
