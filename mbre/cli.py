"""The `mbre` command: `group` shows the relation groups, `plan` prices a corpus, `discover` labels it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mbre.budget import cost_usd, parse_budget
from mbre.cli_options import (
    BaseUrlOpt,
    ConfigOpt,
    GroupingOpt,
    InputOpt,
    ModelOpt,
    NoRelationOpt,
    OnBadInputOpt,
    RelationsOpt,
    RouteTopKOpt,
    StrategyOpt,
    console,
    fail,
    load_inventory,
    prepare_models,
    read_input,
    table_console,
)
from mbre.config import load_context
from mbre.discover import CHARS_PER_TOKEN, Summary, discover
from mbre.evaluation_cli import evaluate_command, student_command
from mbre.graph.context import DecisionPolicy, MbreContext
from mbre.inventory import Inventory
from mbre.llm.local import LocalModelError
from mbre.llm.providers import ProviderError
from mbre.plan import plan as plan_cost
from mbre.runs import RunDir, RunMismatchError
from mbre.schemas import InputError, Instance, Usage
from mbre.tracing import JsonlTracer

app = typer.Typer(
    help="Find relation-extraction training samples in unlabeled text with LLMs (M-BRe).",
    no_args_is_help=True,
    add_completion=False,
)


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
        inventory = load_inventory(relations, no_relation, k, refine, None)
    except (InputError, ValueError) as exc:
        raise fail(str(exc)) from exc
    grouping = inventory.grouping
    table = Table(title=f"{len(inventory.schema.labels)} labels in {grouping.k} groups")
    table.add_column("group", justify="right")
    table.add_column("labels")
    for index, labels in enumerate(grouping.groups):
        table.add_row(str(index), "\n".join(labels))
    table_console().print(table)
    console.print(f"seeds: {', '.join(grouping.seeds) or '-'}   sha256: {grouping.sha256}")
    if out is not None:
        grouping.save(out)
        console.print(f"saved to {out}")


@app.command("discover")
def discover_command(
    relations: RelationsOpt,
    input: InputOpt,
    run_dir: Annotated[
        Path,
        typer.Option(help="Run directory: manifest, samples.jsonl, failures.jsonl; re-running resumes it."),
    ] = Path("runs/latest"),
    config: ConfigOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    strategy: StrategyOpt = None,
    decision: Annotated[DecisionPolicy | None, typer.Option(help="best (the paper) or first.")] = None,
    epsilon: Annotated[
        float | None, typer.Option(help="Keep verified labels with confidence >= 1 - epsilon.")
    ] = None,
    route_top_k: RouteTopKOpt = None,
    concurrency: Annotated[int, typer.Option(help="Sentences in flight at once.")] = 4,
    limit: Annotated[int | None, typer.Option(help="Label only the first N sentences.")] = None,
    grouping: GroupingOpt = None,
    no_relation: NoRelationOpt = None,
    on_bad_input: OnBadInputOpt = "fail",
    fresh: Annotated[
        bool, typer.Option(help="Start the run directory over (earlier results are moved aside).")
    ] = False,
    retry_failed: Annotated[bool, typer.Option(help="Take the sentences that failed before again.")] = False,
    budget: Annotated[
        str | None,
        typer.Option(help="Stop cleanly once this is spent: tokens (200000, 200k) or money (5usd)."),
    ] = None,
    trace: Annotated[
        Path | None, typer.Option(help="Write a JSON Lines trace of every node and LLM call.")
    ] = None,
) -> None:
    """Label every sentence of --input into --run-dir: one sample per sentence, with confidence and
    provenance. Re-running the same command resumes where it stopped."""
    try:
        inventory = load_inventory(relations, no_relation, None, True, grouping)
        instances, bad = read_input(input, on_bad_input)
        instances = instances[:limit]
        ctx = load_context(
            config,
            model=model,
            base_url=base_url,
            strategy=strategy,
            decision=decision,
            epsilon=epsilon,
            route_top_k=route_top_k,
        )
        spend = parse_budget(budget, ctx) if budget else None
        prepare_models(ctx)
        tracer = JsonlTracer(trace) if trace else None
        try:
            summary = _run_with_progress(
                inventory,
                instances,
                ctx,
                run_dir,
                tracer,
                input_file=input,
                concurrency=concurrency,
                retry_failed=retry_failed,
                fresh=fresh,
                budget=spend,
                quarantined=bad,
            )
        finally:
            if tracer is not None:
                tracer.close()
    except (InputError, ProviderError, LocalModelError, RunMismatchError, ValueError) as exc:
        raise fail(str(exc)) from exc
    _print_summary(summary, RunDir(run_dir), ctx)
    if summary.failed:
        for sentence, error in list(summary.failed.items())[:10]:
            console.print(f"[red]failed[/] {sentence}: {error}", highlight=False)
        console.print(f"take them again with: mbre discover ... --run-dir {run_dir} --retry-failed")
        raise typer.Exit(1)
    if summary.stopped == "interrupted":
        console.print("interrupted: the same command resumes")
        raise typer.Exit(130)  # the shell's code for Ctrl-C, so scripts see the run is not complete


@app.command()
def plan(
    relations: RelationsOpt,
    input: InputOpt,
    config: ConfigOpt = None,
    strategies: Annotated[str, typer.Option(help="Comma-separated strategies to price.")] = (
        "mbre,multiclass,binary"
    ),
    route_top_k: RouteTopKOpt = None,
    grouping: GroupingOpt = None,
    no_relation: NoRelationOpt = None,
    on_bad_input: OnBadInputOpt = "fail",
) -> None:
    """Estimate LLM calls and tokens (and money, with a price table) for --input, without any LLM call."""
    try:
        inventory = load_inventory(relations, no_relation, None, True, grouping)
        instances, _ = read_input(input, on_bad_input)
        contexts = [
            load_context(config, strategy=name, route_top_k=route_top_k) for name in strategies.split(",")
        ]
    except (InputError, ValueError) as exc:
        raise fail(str(exc)) from exc
    table = Table(
        title=f"plan for {len(instances)} sentences of {input} (tokens ~{CHARS_PER_TOKEN} chars each)"
    )
    for column in ("strategy", "LLM calls", "calls/sentence", "prompt tokens", "completion tokens", "cost"):
        table.add_column(column, justify="right")
    for ctx in contexts:
        row = plan_cost(inventory, instances, ctx)
        n = max(row.sentences, 1)
        costs = [
            cost_usd(Usage(prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens), ctx)
            for c in (row.low, row.high)
        ]
        table.add_row(
            row.strategy,
            _span(row.low.calls, row.high.calls),
            _span(row.low.calls / n, row.high.calls / n, ".2f"),
            _span(row.low.prompt_tokens, row.high.prompt_tokens),
            _span(row.low.completion_tokens, row.high.completion_tokens),
            "-" if costs[0] is None else _span(costs[0], costs[1], ".2f", "$"),
        )
    table_console().print(table)


def _span(low: float, high: float, fmt: str = ",.0f", unit: str = "") -> str:
    if f"{low:{fmt}}" == f"{high:{fmt}}":
        return f"{unit}{low:{fmt}}"
    return f"{unit}{low:{fmt}} .. {unit}{high:{fmt}}"


def _run_with_progress(
    inventory: Inventory,
    instances: list[Instance],
    ctx: MbreContext,
    run_dir: Path,
    tracer: JsonlTracer | None,
    **options: Any,
) -> Summary:
    """`discover` with a live bar: sentences, labels, LLM calls and tokens (billed and cached)."""
    counts = Usage()
    labels = 0
    no_relation = inventory.schema.no_relation_label
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
        console=console,
    )

    def status() -> str:
        return (
            f"labels {labels}  LLM calls {counts.calls} (cached {counts.cached_calls})  "
            f"tokens {counts.prompt_tokens}+{counts.completion_tokens}"
        )

    with progress:
        task = progress.add_task("sentences", total=len(instances), status=status())

        def on_event(event: dict[str, Any]) -> None:
            nonlocal counts, labels
            kind = event["event"]
            if kind == "llm":
                counts = counts + Usage.model_validate(event["usage"])
            elif kind == "decided" and event["label"] not in (None, no_relation):
                labels += 1
            elif kind == "stopping":
                progress.console.print(f"[yellow]stopping:[/] {event['reason']}", highlight=False)
            advance = (
                event["sentences"] if kind == "resumed" else int(kind in ("decided", "failed", "refused"))
            )
            progress.update(task, advance=advance, status=status())

        summary = discover(
            inventory,
            instances,
            ctx,
            run_dir,
            on_event=on_event,
            callbacks=[tracer] if tracer else [],
            **options,
        )
        progress.update(task, completed=summary.resumed + summary.sentences + len(summary.failed))
        return summary


def _print_summary(summary: Summary, run: RunDir, ctx: MbreContext) -> None:
    table = Table(title=f"mbre discover ({ctx.strategy}, {ctx.model})")
    table.add_column("")
    table.add_column("value", justify="right")
    n = max(summary.sentences, 1)
    usage = summary.usage
    rows = [
        ("sentences labelled now", summary.sentences),
        ("  with a relation", summary.labelled),
        ("  no relation", summary.no_relation),
        ("  abstained", summary.abstained),
        ("finished earlier (resumed)", summary.resumed),
        ("failed", len(summary.failed)),
        ("failed earlier (take again: --retry-failed)", len(run.failures().keys() - summary.failed.keys())),
        ("bad input lines (quarantined)", summary.quarantined),
        ("too long for the model", summary.refused),
        ("LLM calls (per sentence)", f"{usage.calls} ({usage.calls / n:.2f})"),
        ("  answered from cache", _share(usage.cached_calls, usage.calls)),
        ("  retried (transient errors)", usage.retries),
    ]
    for stage, stage_usage in sorted(summary.stages.items()):
        rows.append((f"  {stage}: calls, prompt + completion tokens", _tokens_row(stage_usage)))
    rows += [
        ("tokens: prompt + completion", f"{usage.prompt_tokens} + {usage.completion_tokens}"),
        (
            "tokens billed (not from cache)",
            f"{usage.billed_prompt_tokens} + {usage.billed_completion_tokens}",
        ),
        ("seconds / sentence", f"{summary.seconds / n:.2f}"),
    ]
    cost = cost_usd(usage, ctx)
    if cost is not None:
        rows.append(("cost (price table)", f"${cost:.4f}"))
    if summary.stopped:
        rows.append(("stopped early", summary.stopped))
    for name, value in rows:
        table.add_row(name, str(value))
    table_console().print(table)
    console.print(f"samples in {run.samples_file}")
    if summary.quarantined or summary.refused:
        console.print(f"refused input lines in {run.quarantine_file}")


def _share(part: int, whole: int) -> str:
    return f"{part} ({part / whole:.0%})" if whole else str(part)


def _tokens_row(usage: Usage) -> str:
    return f"{usage.calls}, {usage.prompt_tokens} + {usage.completion_tokens}"


app.command("evaluate")(evaluate_command)
app.command("student")(student_command)
