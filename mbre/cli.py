"""The `mbre` command: `mbre group` shows the relation groups, `mbre discover` labels a file."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mbre.config import load_context
from mbre.discover import Summary, discover
from mbre.graph.context import DecisionPolicy, MbreContext, Strategy
from mbre.grouping import Grouping, group_relations
from mbre.inventory import Inventory
from mbre.llm.local import LocalModelError
from mbre.llm.providers import ProviderError
from mbre.schemas import InputError, Instance, RelationSchema, read_instances
from mbre.tracing import JsonlTracer

app = typer.Typer(
    help="Find relation-extraction training samples in unlabeled text with LLMs (M-BRe).",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)

RelationsOpt = Annotated[
    Path, typer.Option("--relations", help="Relation schema (JSON).", show_default=False)
]
NoRelationOpt = Annotated[
    str | None, typer.Option("--no-relation", help="The no-relation label, if the schema marks none.")
]


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def _load_inventory(
    relations: Path, no_relation: str | None, k: int | None, refine: bool, grouping_file: Path | None
) -> Inventory:
    schema = RelationSchema.from_file(relations, no_relation=no_relation)
    grouping = (
        Grouping.load(grouping_file, schema) if grouping_file else group_relations(schema, k, refine=refine)
    )
    return Inventory.build(schema, grouping)


@app.command()
def group(
    relations: RelationsOpt,
    no_relation: NoRelationOpt = None,
    k: Annotated[int | None, typer.Option(help="Number of groups (default: floor(N/6)).")] = None,
    refine: Annotated[bool, typer.Option(help="Swap pass after the paper's greedy placement.")] = True,
    out: Annotated[Path | None, typer.Option(help="Save the grouping artifact (JSON with its hash).")] = None,
) -> None:
    """Split the relation labels into groups of mutually dissimilar relations and print them."""
    try:
        inventory = _load_inventory(relations, no_relation, k, refine, None)
    except (InputError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    grouping = inventory.grouping
    table = Table(title=f"{len(inventory.schema.labels)} labels in {grouping.k} groups")
    table.add_column("group", justify="right")
    table.add_column("labels")
    for index, labels in enumerate(grouping.groups):
        table.add_row(str(index), "\n".join(labels))
    Console().print(table)
    console.print(f"seeds: {', '.join(grouping.seeds) or '-'}   sha256: {grouping.sha256}")
    if out is not None:
        grouping.save(out)
        console.print(f"saved to {out}")


@app.command("discover")
def discover_command(
    relations: RelationsOpt,
    input: Annotated[Path, typer.Option("--input", help="Sentences (JSON Lines).", show_default=False)],
    out: Annotated[Path, typer.Option(help="Where to write the samples (JSON Lines).")] = Path(
        "samples.jsonl"
    ),
    config: Annotated[Path | None, typer.Option(help="Settings file (mbre.toml).")] = None,
    model: Annotated[
        str | None, typer.Option(help="provider:model, e.g. local or openai:gpt-4o-mini.")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint for openai: models.")
    ] = None,
    strategy: Annotated[
        Strategy | None, typer.Option(help="mbre, or a baseline: multiclass, binary.")
    ] = None,
    decision: Annotated[DecisionPolicy | None, typer.Option(help="best (the paper) or first.")] = None,
    epsilon: Annotated[
        float | None, typer.Option(help="Keep verified labels with confidence >= 1 - epsilon.")
    ] = None,
    route_top_k: Annotated[
        int | None, typer.Option(help="Ask only the groups of the k nearest relations.")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Sentences in flight at once.")] = 4,
    limit: Annotated[int | None, typer.Option(help="Label only the first N sentences.")] = None,
    grouping: Annotated[Path | None, typer.Option(help="Use a saved grouping artifact.")] = None,
    no_relation: NoRelationOpt = None,
    trace: Annotated[
        Path | None, typer.Option(help="Write a JSON Lines trace of every node and LLM call.")
    ] = None,
) -> None:
    """Label every sentence of --input and write one sample per sentence, with confidence and provenance."""
    try:
        inventory = _load_inventory(relations, no_relation, None, True, grouping)
        instances = read_instances(input)[:limit]
        ctx = load_context(
            config,
            model=model,
            base_url=base_url,
            strategy=strategy,
            decision=decision,
            epsilon=epsilon,
            route_top_k=route_top_k,
        )
        with console.status(f"preparing {ctx.model} ..."):
            # Build the models (and start the embedded server) before the progress clock starts.
            ctx.llm("extraction")
            ctx.llm("verification")
    except (InputError, ProviderError, LocalModelError, ValueError) as exc:
        raise _fail(str(exc)) from exc

    tracer = JsonlTracer(trace) if trace else None
    try:
        summary = _run_with_progress(inventory, instances, ctx, out, concurrency, tracer)
    finally:
        if tracer is not None:
            tracer.close()
    _print_summary(summary, out, ctx)
    if summary.failed:
        for sentence, error in list(summary.failed.items())[:10]:
            console.print(f"[red]failed[/] {sentence}: {error}", highlight=False)
        raise typer.Exit(1)


def _run_with_progress(
    inventory: Inventory,
    instances: list[Instance],
    ctx: MbreContext,
    out: Path,
    concurrency: int,
    tracer: JsonlTracer | None,
) -> Summary:
    counts = {"labels": 0, "calls": 0}
    lock = threading.Lock()
    no_relation = inventory.schema.no_relation_label
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("labels {task.fields[labels]}  LLM calls {task.fields[calls]}"),
        TimeRemainingColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("sentences", total=len(instances), labels=0, calls=0)

        def on_event(event: dict[str, Any]) -> None:
            with lock:
                if event["event"] == "llm":
                    counts["calls"] += event["calls"]
                elif event["event"] == "decided" and event["label"] not in (None, no_relation):
                    counts["labels"] += 1
                advance = 1 if event["event"] in ("decided", "failed") else 0
                progress.update(task, advance=advance, **counts)

        return discover(
            inventory,
            instances,
            ctx,
            out,
            concurrency=concurrency,
            on_event=on_event,
            callbacks=[tracer] if tracer else [],
        )


def _print_summary(summary: Summary, out: Path, ctx: MbreContext) -> None:
    table = Table(title=f"mbre discover ({ctx.strategy}, {ctx.model})")
    table.add_column("")
    table.add_column("value", justify="right")
    n = max(summary.sentences, 1)
    rows = [
        ("sentences", summary.sentences),
        ("with a relation", summary.labelled),
        ("no relation", summary.no_relation),
        ("abstained", summary.abstained),
        ("failed", len(summary.failed)),
        ("LLM calls", summary.usage.calls),
        ("LLM calls / sentence", f"{summary.usage.calls / n:.2f}"),
        ("prompt / completion tokens", f"{summary.usage.prompt_tokens} / {summary.usage.completion_tokens}"),
        ("seconds / sentence", f"{summary.seconds / n:.2f}"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    Console().print(table)
    console.print(f"samples written to {out}")
