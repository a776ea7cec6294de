"""`mbre evaluate`: the strategies label the same gold sentences and are scored, costed and replayed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mbre.cli.console import console, table_console
from mbre.cli.options import (
    BaseUrlOpt,
    ConcurrencyOpt,
    ConfidenceOpt,
    ConfigOpt,
    DecisionOpt,
    FormatOpt,
    GroupingOpt,
    ModelOpt,
    NoCacheOpt,
    NoRelationOpt,
    RelationsOpt,
    ReportDirOpt,
    SeedOpt,
    SeedsOpt,
    ShotsOpt,
    ThresholdOpt,
    ThresholdsOpt,
    load_checked_context,
    load_inventory,
    prepare_models,
)
from mbre.cli.tables import print_rows
from mbre.errors import SettingError
from mbre.schemas.options import EPSILONS, parse_arms

#: The arms compared by default: M-BRe with the calibrated decision and with the paper's rule, and the
#: two baselines.
DEFAULT_ARMS = "mbre,mbre:paper,multiclass,binary"

if TYPE_CHECKING:
    from rich.console import Console

    from mbre.evaluation.strategies import Evaluation


def evaluate_command(
    relations: RelationsOpt,
    gold: Annotated[Path, typer.Option("--gold", help="Gold-labelled sentences.", show_default=False)],
    report_dir: ReportDirOpt,
    strategies: Annotated[
        str,
        typer.Option(
            help="Comma-separated, from mbre, multiclass, binary; strategy:policy runs a strategy with "
            "another decision policy (mbre:paper is the paper's rule)."
        ),
    ] = DEFAULT_ARMS,
    format: FormatOpt = "auto",
    limit: Annotated[int | None, typer.Option(help="Evaluate N sentences drawn at random (--seed).")] = None,
    seed: SeedOpt = 0,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    decision: DecisionOpt = None,
    epsilon: Annotated[
        float | None, typer.Option(help="decision=paper: keep labels with confidence >= 1 - epsilon.")
    ] = None,
    threshold: ThresholdOpt = None,
    thresholds: ThresholdsOpt = None,
    seeds: SeedsOpt = None,
    shots: ShotsOpt = None,
    epsilons: Annotated[
        str, typer.Option(help="Comma-separated epsilons the sweep replays from the mbre:paper run.")
    ] = ",".join(map(str, EPSILONS)),
    route_top_k: Annotated[
        int | None, typer.Option(help="Also replay asking only the groups of the k nearest relations.")
    ] = None,
    confidence: ConfidenceOpt = None,
    concurrency: ConcurrencyOpt = 4,
    grouping: GroupingOpt = None,
    no_relation: NoRelationOpt = None,
    fresh: Annotated[
        bool, typer.Option(help="Label again instead of resuming runs in --report-dir.")
    ] = False,
    no_cache: NoCacheOpt = False,
) -> None:
    """Label the same gold sentences with each strategy and report quality, cost, the epsilon sweep and
    the recall that routing to fewer groups loses.

    Exit status: 0 when every sentence got a sample; 1 when some did not, or a file cannot be written; 2
    for bad input or settings; 130, 143 or 129 when Ctrl-C, SIGTERM or SIGHUP stopped it (the same
    command resumes)."""
    from mbre.cli.progress import RunProgress
    from mbre.evaluation.gold import load_gold
    from mbre.evaluation.replays import parse_epsilons
    from mbre.evaluation.report import write_evaluation
    from mbre.evaluation.strategies import evaluate
    from mbre.run.inputs import GivenFiles
    from mbre.run.lock import hold
    from mbre.run.signals import stop_with_error

    with stop_with_error():
        arms = parse_arms(strategies)
        swept = parse_epsilons(epsilons)
        inventory = load_inventory(relations, no_relation, None, True, grouping, seeds)
        instances = load_gold(gold, format, labels=inventory.schema.labels)
        if limit is not None and not 1 <= limit <= len(instances):
            raise SettingError(f"--limit must be between 1 and {len(instances)} (the sentences in {gold})")
        ctx = load_checked_context(
            config,
            inventory,
            model=model,
            base_url=base_url,
            decision=decision,
            epsilon=epsilon,
            threshold=threshold,
            thresholds=thresholds,
            shots=shots,
            route_top_k=route_top_k,
            no_cache=no_cache,
            confidence=confidence,
        )
        files = {"gold": gold, "relations": relations, "grouping": grouping, "config": config}
        files |= {"seeds": seeds, "thresholds": thresholds}
        total = (len(instances) if limit is None else limit) * len(arms)
        with hold(*(report_dir / arm.directory for arm in arms)):  # before the models start: refused at once
            ctx = prepare_models(ctx)
            with RunProgress(total, inventory.schema.no_relation_label, "labelling") as progress:
                evaluation = evaluate(
                    inventory,
                    instances,
                    [arm.name for arm in arms],
                    ctx,
                    report_dir,
                    concurrency=concurrency,
                    on_event=progress.on_event,
                    limit=limit,
                    seed=seed,
                    files={role: path for role, path in files.items() if path is not None},
                    fresh=fresh,
                    epsilons=swept,
                    given=GivenFiles(relations, no_relation, seeds, thresholds),
                )
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


def print_evaluation(evaluation: Evaluation, out: Console) -> None:
    """The comparison, the notes on partial timings, the epsilon sweep and the routing replay."""
    from mbre.evaluation.report import curve_rows, route_rows, strategy_rows, sweep_rows, timing_notes

    print_rows(strategy_rows(evaluation), out)
    for note in timing_notes(evaluation):
        out.print(note, highlight=False)
    print_rows(curve_rows(evaluation), out)
    if evaluation.epsilon_sweep:
        print_rows(sweep_rows(evaluation), out)
    if evaluation.route:
        print_rows(route_rows(evaluation), out)
