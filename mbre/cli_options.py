"""What the `mbre` commands share: the error console, option types, and loading the inventory and input."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mbre.graph.context import BadInputPolicy, MbreContext, Strategy
from mbre.grouping import Grouping, group_relations
from mbre.inventory import Inventory
from mbre.schemas import InputError, Instance, RelationSchema, read_instances

console = Console(stderr=True)


def table_console() -> Console:
    """Standard output for result tables. Piped into a file, rich would cut tables at 80 columns, so the
    width is then 200 unless COLUMNS says otherwise."""
    out = Console()
    return out if out.is_terminal or "COLUMNS" in os.environ else Console(width=200)


RelationsOpt = Annotated[
    Path, typer.Option("--relations", help="Relation schema (JSON).", show_default=False)
]
NoRelationOpt = Annotated[
    str | None, typer.Option("--no-relation", help="The no-relation label, if the schema marks none.")
]


def fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def load_inventory(
    relations: Path, no_relation: str | None, k: int | None, refine: bool, grouping_file: Path | None
) -> Inventory:
    schema = RelationSchema.from_file(relations, no_relation=no_relation)
    grouping = (
        Grouping.load(grouping_file, schema) if grouping_file else group_relations(schema, k, refine=refine)
    )
    return Inventory.build(schema, grouping)


InputOpt = Annotated[Path, typer.Option("--input", help="Sentences (JSON Lines).", show_default=False)]
ConfigOpt = Annotated[Path | None, typer.Option(help="Settings file (mbre.toml).")]
ModelOpt = Annotated[str | None, typer.Option(help="provider:model, e.g. local or openai:gpt-4o-mini.")]
BaseUrlOpt = Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint for openai: models.")]
StrategyOpt = Annotated[Strategy | None, typer.Option(help="mbre, or a baseline: multiclass, binary.")]
RouteTopKOpt = Annotated[int | None, typer.Option(help="Ask only the groups of the k nearest relations.")]
GroupingOpt = Annotated[Path | None, typer.Option(help="Use a saved grouping artifact.")]
OnBadInputOpt = Annotated[
    BadInputPolicy,
    typer.Option(help="fail: stop at the first bad line; skip: quarantine bad lines and go on."),
]


def read_input(path: Path, policy: BadInputPolicy) -> tuple[list[Instance], list[InputError]]:
    bad: list[InputError] = []
    instances = read_instances(path, bad.append if policy == "skip" else None)
    for error in bad[:5]:
        console.print(f"[yellow]skipped[/] {error}", highlight=False)
    if len(bad) > 5:
        console.print(f"[yellow]skipped[/] {len(bad) - 5} more bad lines", highlight=False)
    return instances, bad


def prepare_models(ctx: MbreContext) -> None:
    """Build both roles' models (starting the embedded server) before any progress clock starts."""
    with console.status(f"preparing {ctx.model} ..."):
        ctx.llm("extraction")
        ctx.llm("verification")
