"""`mbre evaluate` and `mbre student`: the strategies and the discovered samples scored against gold data.

Registered on the `mbre` app by `mbre.cli`; every bad input exits with status 2 before any LLM call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from mbre.cli_options import (
    BaseUrlOpt,
    ConfigOpt,
    GroupingOpt,
    ModelOpt,
    NoRelationOpt,
    RelationsOpt,
    console,
    fail,
    load_inventory,
    prepare_models,
    table_console,
)
from mbre.config import load_context
from mbre.embeddings import EmbeddingModelError
from mbre.evaluate import (
    STRATEGIES,
    Evaluation,
    EvaluationStopped,
    check_strategies,
    evaluate,
    evaluate_student,
    load_gold,
)
from mbre.graph.context import DecisionPolicy, MbreContext, Strategy
from mbre.inventory import Inventory
from mbre.llm.local import LocalModelError
from mbre.llm.providers import ProviderError
from mbre.loaders import Format
from mbre.report import print_evaluation, print_student, write_evaluation, write_student
from mbre.runs import RunDir, read_samples
from mbre.schemas import InputError, Instance
from mbre.schemas.relations import NO_RELATION_NAMES
from mbre.student import STUDENTS, check_students
from mbre.sweep import EPSILONS, parse_epsilons

ReportDirOpt = Annotated[
    Path,
    typer.Option(
        "--report-dir", help="Where to write report.md, report.json and charts.", show_default=False
    ),
]
FormatOpt = Annotated[
    Format, typer.Option("--format", help="Gold file format: auto, jsonl, semeval, tacred.")
]
SeedOpt = Annotated[int, typer.Option(help="Seed of the random draw.")]


def evaluate_command(
    relations: RelationsOpt,
    gold: Annotated[Path, typer.Option("--gold", help="Gold-labelled sentences.", show_default=False)],
    report_dir: ReportDirOpt,
    strategies: Annotated[
        str, typer.Option(help="Comma-separated, from mbre, multiclass, binary.")
    ] = ",".join(STRATEGIES),
    format: FormatOpt = "auto",
    limit: Annotated[int | None, typer.Option(help="Evaluate N sentences drawn at random (--seed).")] = None,
    seed: SeedOpt = 0,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    decision: Annotated[DecisionPolicy | None, typer.Option(help="best (the paper) or first.")] = None,
    epsilon: Annotated[float | None, typer.Option(help="Keep labels with confidence >= 1 - epsilon.")] = None,
    epsilons: Annotated[
        str, typer.Option(help="Comma-separated epsilons the sweep replays from the mbre run.")
    ] = ",".join(str(e) for e in EPSILONS),
    route_top_k: Annotated[
        int | None, typer.Option(help="Also replay asking only the groups of the k nearest relations.")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Sentences in flight at once.")] = 4,
    grouping: GroupingOpt = None,
    no_relation: NoRelationOpt = None,
    fresh: Annotated[
        bool, typer.Option(help="Label again instead of resuming runs in --report-dir.")
    ] = False,
) -> None:
    """Label the same gold sentences with each strategy and report quality, cost, the epsilon sweep and
    the recall that routing to fewer groups loses."""
    try:
        names = check_strategies([name.strip() for name in strategies.split(",")])
        thresholds = parse_epsilons(epsilons)
        inventory = load_inventory(relations, no_relation, None, True, grouping)
        instances = load_gold(gold, format, labels=inventory.schema.labels)
        if limit is not None and not 1 <= limit <= len(instances):
            raise ValueError(f"--limit must be between 1 and {len(instances)} (the sentences in {gold})")
        ctx = load_context(
            config,
            model=model,
            base_url=base_url,
            decision=decision,
            epsilon=epsilon,
            route_top_k=route_top_k,
        )
        prepare_models(ctx)
    except (InputError, ProviderError, LocalModelError, ValueError) as exc:
        raise fail(str(exc)) from exc

    files = {"gold": gold, "relations": relations, "grouping": grouping, "config": config}
    try:
        evaluation = _evaluate_with_progress(
            inventory,
            instances,
            names,
            ctx,
            report_dir,
            concurrency=concurrency,
            limit=limit,
            seed=seed,
            files={role: path for role, path in files.items() if path is not None},
            fresh=fresh,
            epsilons=thresholds,
        )
    except EvaluationStopped as exc:
        console.print(f"[yellow]stopped:[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    except ValueError as exc:  # e.g. the report directory holds runs made with other settings
        raise fail(str(exc)) from exc
    write_evaluation(evaluation, report_dir)
    print_evaluation(evaluation, table_console())
    console.print(f"report written to {report_dir / 'report.md'}")
    missing = {result.strategy: len(result.no_sample) for result in evaluation.strategies if result.no_sample}
    if missing:
        counts = ", ".join(f"{strategy} {count}" for strategy, count in missing.items())
        console.print(
            f"[red]sentences without a sample (scored as abstentions):[/] {counts}", highlight=False
        )
        raise typer.Exit(1)


def student_command(
    train: Annotated[
        Path, typer.Option("--train", help="Discovered samples, or the run directory.", show_default=False)
    ],
    test: Annotated[Path, typer.Option("--test", help="Gold-labelled test sentences.", show_default=False)],
    gold_train: Annotated[
        Path,
        typer.Option("--gold-train", help="Gold-labelled sentences for the control.", show_default=False),
    ],
    report_dir: ReportDirOpt,
    format: FormatOpt = "auto",
    no_relation: Annotated[
        str | None, typer.Option("--no-relation", help="The no-relation label (default: found in --test).")
    ] = None,
    students: Annotated[
        str, typer.Option(help="Comma-separated, from tfidf, embeddings (all-MiniLM-L6-v2, on the CPU).")
    ] = ",".join(STUDENTS),
    seed: SeedOpt = 0,
) -> None:
    """Train relation classifiers on discovered samples and, as a control, on as many gold samples; score
    all on gold test data."""
    samples_file = RunDir(train).samples_file if train.is_dir() else train
    try:
        kinds = check_students([name.strip() for name in students.split(",")])
        samples = read_samples(samples_file)
        test_instances = load_gold(test, format)
        pool = load_gold(gold_train, format)
        label = no_relation or _no_relation_of(test_instances, test)
        comparison = evaluate_student(
            samples,
            test_instances,
            pool,
            no_relation=label,
            students=kinds,
            seed=seed,
            files={"train": samples_file, "test": test, "gold_train": gold_train},
        )
    except (InputError, ValueError, EmbeddingModelError) as exc:
        raise fail(str(exc)) from exc
    write_student(comparison, report_dir)
    print_student(comparison, table_console())
    console.print(f"report written to {report_dir / 'report.md'}")


def _no_relation_of(instances: list[Instance], source: Path) -> str:
    labels = {instance.relation for instance in instances}
    for name in NO_RELATION_NAMES:
        if name in labels:
            return name
    raise ValueError(f"no no-relation label ({', '.join(NO_RELATION_NAMES)}) in {source}: pass --no-relation")


def _evaluate_with_progress(
    inventory: Inventory,
    instances: list[Instance],
    strategies: list[Strategy],
    ctx: MbreContext,
    report_dir: Path,
    *,
    concurrency: int,
    limit: int | None,
    seed: int,
    files: dict[str, Path],
    fresh: bool,
    epsilons: list[float],
) -> Evaluation:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    with progress:
        total = (len(instances) if limit is None else limit) * len(strategies)
        task = progress.add_task("labelling", total=total)

        def on_event(event: dict[str, Any]) -> None:
            nonlocal total
            if event["event"] == "strategy":
                progress.update(task, description=event["strategy"])
            elif event["event"] == "resumed":  # finished earlier: not this invocation's work
                total -= event["sentences"]
                progress.update(task, total=total)
            elif event["event"] in ("decided", "failed", "refused"):
                progress.advance(task)

        return evaluate(
            inventory,
            instances,
            strategies,
            ctx,
            report_dir,
            concurrency=concurrency,
            on_event=on_event,
            limit=limit,
            seed=seed,
            files=files,
            fresh=fresh,
            epsilons=epsilons,
        )
