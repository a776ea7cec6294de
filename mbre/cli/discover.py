"""`mbre discover`: label a file of sentences into a run directory, with a live bar and a closing summary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mbre.cli.console import console
from mbre.cli.options import (
    BaseUrlsOpt,
    ConcurrencyOpt,
    ConfidenceOpt,
    ConfigOpt,
    DecisionOpt,
    GroupingOpt,
    InputOpt,
    ModelOpt,
    NoCacheOpt,
    NoRelationOpt,
    OnBadInputOpt,
    RelationsOpt,
    RouteTopKOpt,
    SeedsOpt,
    ShotsOpt,
    StrategyOpt,
    ThresholdOpt,
    ThresholdsOpt,
    load_checked_context,
    load_inventory,
    prepare_models,
    read_input,
)
from mbre.cli.tables import print_rows
from mbre.schemas.options import Backend
from mbre.schemas.table import Rows

if TYPE_CHECKING:
    from mbre.graph.context import MbreContext
    from mbre.run.discover import Summary
    from mbre.run.rundir import RunDir


def discover_command(
    relations: RelationsOpt,
    input: InputOpt,
    run_dir: Annotated[
        Path,
        typer.Option(help="Run directory: manifest, samples.jsonl, failures.jsonl; re-running resumes it."),
    ] = Path("runs/latest"),
    config: ConfigOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlsOpt = None,
    strategy: StrategyOpt = None,
    decision: DecisionOpt = None,
    epsilon: Annotated[
        float | None,
        typer.Option(help="decision=paper: keep verified labels with confidence >= 1 - epsilon."),
    ] = None,
    threshold: ThresholdOpt = None,
    thresholds: ThresholdsOpt = None,
    seeds: SeedsOpt = None,
    shots: ShotsOpt = None,
    route_top_k: RouteTopKOpt = None,
    narrow_by_type: Annotated[
        bool | None,
        typer.Option(
            "--narrow-by-type/--no-narrow-by-type",
            help="Offer a typed pair only the relations whose head_types and tail_types fit it.",
            show_default=False,
        ),
    ] = None,
    confidence: ConfidenceOpt = None,
    concurrency: ConcurrencyOpt = 4,
    limit: Annotated[int | None, typer.Option(min=1, help="Label only the first N sentences.")] = None,
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
    no_cache: NoCacheOpt = False,
    backend: Annotated[
        Backend, typer.Option(help="local: this process labels; ray: Ray workers label, this process writes.")
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="--backend ray: the Ray cluster to join; default: Ray on this machine.")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(min=1, help="--backend ray: Ray actors, each with --concurrency sentences in flight."),
    ] = 2,
) -> None:
    """Label every sentence of --input into --run-dir: one sample per sentence, with confidence and
    provenance. Re-running the same command resumes where it stopped.

    Exit status: 0 when every sentence is labelled; 1 when some failed (now or earlier, see
    --retry-failed) or a file cannot be written; 2 for bad input or settings; 3 when --budget stopped the
    run; 130, 143 or 129 when Ctrl-C, SIGTERM or SIGHUP stopped it."""
    from mbre.cli.progress import RunProgress
    from mbre.run.budget import parse_budget
    from mbre.run.discover import RayOptions, discover
    from mbre.run.inputs import GivenFiles
    from mbre.run.lock import hold
    from mbre.run.rundir import RunDir
    from mbre.run.signals import stop_with_error
    from mbre.run.tracing import JsonlTracer

    with stop_with_error():
        _check_backend(backend, ray_address)
        inventory = load_inventory(relations, no_relation, None, True, grouping, seeds)
        instances, bad, input_sha256 = read_input(input, on_bad_input)
        instances = instances[:limit]
        ctx = load_checked_context(
            config,
            inventory,
            model=model,
            base_url=base_url[0] if base_url else None,
            fleet=base_url[1:] if base_url else None,
            strategy=strategy,
            decision=decision,
            epsilon=epsilon,
            threshold=threshold,
            thresholds=thresholds,
            shots=shots,
            route_top_k=route_top_k,
            no_cache=no_cache,
            narrow_by_type=narrow_by_type,
            confidence=confidence,
        )
        spend = parse_budget(budget, ctx) if budget else None
        tracer = JsonlTracer(trace) if trace else None
        with hold(run_dir):  # before the models start: a second process is refused at once
            ctx = prepare_models(ctx)
            with RunProgress(len(instances), inventory.schema.no_relation_label) as progress:
                summary = discover(
                    inventory,
                    instances,
                    ctx,
                    run_dir,
                    input_file=input,
                    input_sha256=input_sha256,
                    concurrency=concurrency,
                    on_event=progress.on_event,
                    callbacks=[tracer] if tracer else [],
                    retry_failed=retry_failed,
                    fresh=fresh,
                    budget=spend,
                    quarantined=bad,
                    given=GivenFiles(relations, no_relation, seeds, thresholds),
                    ray=RayOptions(ray_address, workers) if backend == "ray" else None,
                )
    _print_summary(summary, RunDir(run_dir), ctx)
    raise typer.Exit(_exit_status(summary, run_dir))


def _check_backend(backend: Backend, ray_address: str | None) -> None:
    """Refuse Ray options without Ray before anything is read or started."""
    import importlib.util

    from mbre.errors import SettingError

    if backend != "ray" and ray_address is not None:
        raise SettingError("--ray-address joins a Ray cluster: give it with --backend ray")
    if backend == "ray" and importlib.util.find_spec("ray") is None:
        raise SettingError("--backend ray needs Ray: pip install 'mbre[ray]'")


#: The exit status of a run that its --budget stopped: not complete, and not failed.
BUDGET_EXIT = 3


def _exit_status(summary: Summary, run_dir: Path) -> int:
    """Say why the run is not complete, and give the status that tells a script so (see the docstring
    of `discover_command`)."""
    from mbre.run.signals import exit_status, signal_name

    for sentence, error in list(summary.failed.items())[:10]:
        console.print(f"[red]failed[/] {sentence}: {error}", highlight=False)
    if summary.failed_earlier:
        console.print(f"failed in an earlier invocation, not taken again: {summary.failed_earlier}")
    if summary.failed or summary.failed_earlier:
        console.print(f"take them again with: mbre discover ... --run-dir {run_dir} --retry-failed")
    if summary.signal is not None:
        console.print(f"interrupted ({signal_name(summary.signal)}): the same command resumes")
        return exit_status(summary.signal)
    if summary.stopped == "budget":
        console.print("stopped at the budget: the same command goes on, with as much again")
        return BUDGET_EXIT
    return 1 if summary.failed or summary.failed_earlier else 0


def _print_summary(summary: Summary, run: RunDir, ctx: MbreContext) -> None:
    from mbre.run.budget import cost_usd
    from mbre.run.signals import signal_name

    n = max(summary.sentences, 1)
    usage = summary.usage
    rows: list[tuple[str, object]] = [
        ("sentences labelled now", summary.sentences),
        ("  with a relation", summary.labelled),
        ("  no relation", summary.no_relation),
        ("  abstained", summary.abstained),
        ("finished earlier (resumed)", summary.resumed),
        ("failed", len(summary.failed)),
        ("failed earlier (take again: --retry-failed)", summary.failed_earlier),
        ("bad input lines (quarantined)", summary.quarantined),
        ("too long for the model", summary.refused),
        ("LLM calls (per sentence)", f"{usage.calls} ({usage.calls / n:.2f})"),
        ("  answered from cache", _share(usage.cached_calls, usage.calls)),
        ("  retried (transient errors)", usage.retries),
        ("calibration: content-free questions, once", summary.calibration.calls),
    ]
    if summary.resent:
        rows.append(("sent again (their Ray worker was lost)", summary.resent))
    for stage, stage_usage in sorted(summary.stages.items()):
        rows.append(
            (
                f"  {stage}: calls, prompt + completion tokens",
                f"{stage_usage.calls}, {stage_usage.prompt_tokens} + {stage_usage.completion_tokens}",
            )
        )
    rows += [
        ("tokens: prompt + completion", f"{usage.prompt_tokens} + {usage.completion_tokens}"),
        (
            "tokens billed (not from cache; calibration and unfinished sentences included)",
            f"{summary.billed.billed_prompt_tokens} + {summary.billed.billed_completion_tokens}",
        ),
        ("  prompt tokens processed (not in the server's prompt cache)", usage.processed_prompt_tokens),
        ("seconds / sentence", f"{summary.seconds / n:.2f}"),
    ]
    cost = cost_usd(summary.billed, ctx)
    if cost is not None:
        rows.append(("cost (price table)", f"${cost:.4f}"))
    if summary.stopped:
        why = f"{summary.stopped} ({signal_name(summary.signal)})" if summary.signal else summary.stopped
        rows.append(("stopped early", why))
    title = f"mbre discover ({ctx.strategy}, {ctx.model})"
    print_rows(Rows(title=title, headers=["", "value"], rows=[[name, str(value)] for name, value in rows]))
    console.print(f"samples in {run.samples_file}")
    if summary.quarantined or summary.refused:
        console.print(f"refused input lines in {run.quarantine_file}")


def _share(part: int, whole: int) -> str:
    return f"{part} ({part / whole:.0%})" if whole else str(part)
