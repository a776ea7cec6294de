"""`mbre review push|pull|export|import`: the samples worth a person's look as Label Studio tasks, sent to a
server or written to files, and the reviewed labels back as gold sentences."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mbre.cli.console import console
from mbre.cli.options import NoRelationOpt, RunArg, SchemaOpt, SeedOpt
from mbre.cli.tables import print_rows
from mbre.errors import InputError
from mbre.files import ensure_dir, write_atomic
from mbre.schemas.options import ReviewSelection
from mbre.schemas.table import Rows

if TYPE_CHECKING:
    from mbre.schemas.instances import Instance

review_app = typer.Typer(
    help="Review samples in Label Studio: push tasks to a server and pull the answers, or export and import "
    "files.",
    no_args_is_help=True,
)


SelectOpt = Annotated[
    ReviewSelection,
    typer.Option(help="uncertain: the doubtful first; all: run order; random: a seeded draw."),
]
LimitOpt = Annotated[int | None, typer.Option(help="At most N tasks.")]
LowConfidenceOpt = Annotated[
    float, typer.Option(help="--select uncertain: labels below this confidence are doubtful.")
]
UrlOpt = Annotated[
    str,
    typer.Option(
        "--url",
        help="The Label Studio server, e.g. http://127.0.0.1:8080 (`make labelstudio`).",
        show_default=False,
    ),
]
ProjectOpt = Annotated[
    int | None, typer.Option(help="The project's id (default: the one the run was pushed to on --url).")
]


def _tasks(
    run: Path,
    select: ReviewSelection,
    limit: int | None,
    seed: int,
    low_confidence: float,
    relations: Path | None,
    no_relation: str | None,
) -> tuple[list[dict[str, Any]], str]:
    """The chosen samples as tasks and the labelling config, whose choices are the run's schema (every
    relation with its definition); prints why the samples were chosen."""
    from mbre.dataset.labelstudio import choices_of, label_config, to_task
    from mbre.dataset.selection import select_for_review
    from mbre.run.inputs import run_schema
    from mbre.run.rundir import read_samples, samples_path

    schema = run_schema(run, relations, no_relation)
    samples = read_samples(samples_path(run))
    chosen = select_for_review(samples, select, limit=limit, seed=seed, low_confidence=low_confidence)
    reasons = Counter(doubt.reason or "no doubt" for _, doubt in chosen)
    print_rows(
        Rows(
            title=f"{len(chosen)} tasks ({select})",
            headers=["why", "tasks"],
            rows=[[reason, str(count)] for reason, count in reasons.most_common()],
        )
    )
    return [to_task(sample, doubt) for sample, doubt in chosen], label_config(choices_of(schema, samples))


@review_app.command("push")
def review_push_command(
    run: Annotated[Path, typer.Argument(help="A run directory.", show_default=False)],
    url: UrlOpt,
    project: ProjectOpt = None,
    title: Annotated[str | None, typer.Option(help="A new project's title (default: mbre: RUN).")] = None,
    select: SelectOpt = "uncertain",
    limit: LimitOpt = None,
    seed: SeedOpt = 0,
    low_confidence: LowConfidenceOpt = 0.9,
    relations: SchemaOpt = None,
    no_relation: NoRelationOpt = None,
) -> None:
    """Create or update a Label Studio project through its API: mbre's labelling config, pre-labelling
    from mbre's predictions, and the chosen samples as tasks (those it holds already are not sent again).
    The API key comes from LABEL_STUDIO_API_KEY; the project is remembered in RUN/review.json."""
    from mbre.dataset.review_server import connect, push

    _require_run_dir(run)
    tasks, config = _tasks(run, select, limit, seed, low_confidence, relations, no_relation)
    pushed = push(connect(url), url, run, tasks, config, project=project, title=title)
    made = "created" if pushed.created else "updated"
    console.print(
        f"project {pushed.project.project} ({pushed.project.title}) {made} on {pushed.project.url}: "
        f"{pushed.added} tasks added, {pushed.present} there already; review them, then `mbre review pull "
        f"{run} --url {pushed.project.url}`",
        highlight=False,
    )


@review_app.command("pull")
def review_pull_command(
    run: Annotated[Path, typer.Argument(help="The run directory that was pushed.", show_default=False)],
    url: UrlOpt,
    out: Annotated[
        Path | None,
        typer.Option(help="Reviewed sentences (JSON Lines with relation; default: RUN/reviewed.jsonl)."),
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Bring the project's submitted answers back as reviewed sentences, the file `review import` writes,
    which `mbre export --reviewed`, `calibrate --gold` and `evaluate --gold` read."""
    from mbre.dataset.review_server import connect, pull

    _require_run_dir(run)
    instances, unanswered = pull(connect(url), url, run, project)
    _write_reviewed(instances, unanswered, out or run / "reviewed.jsonl")


@review_app.command("export")
def review_export_command(
    run: RunArg,
    out: Annotated[
        Path, typer.Option(help="Directory for tasks.json and label_config.xml.", show_default=False)
    ],
    select: SelectOpt = "uncertain",
    limit: LimitOpt = None,
    seed: SeedOpt = 0,
    low_confidence: LowConfidenceOpt = 0.9,
    relations: SchemaOpt = None,
    no_relation: NoRelationOpt = None,
) -> None:
    """Write Label Studio tasks (the sentence with its entities marked, mbre's label as a scored prediction)
    and the labelling config that goes with them, for a server `review push` cannot reach."""
    tasks, config = _tasks(run, select, limit, seed, low_confidence, relations, no_relation)
    ensure_dir(out)
    write_atomic(out / "tasks.json", json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
    write_atomic(out / "label_config.xml", config)
    console.print(
        f"wrote {out / 'tasks.json'} and {out / 'label_config.xml'}: in Label Studio, create a project with "
        "that labelling config, import the tasks, set Settings > Annotation > 'Use predictions to prelabel "
        "tasks' to model version 'mbre', review, then export as JSON for `mbre review import`"
    )


@review_app.command("import")
def review_import_command(
    export: Annotated[Path, typer.Argument(help="Label Studio's JSON export.", show_default=False)],
    out: Annotated[
        Path, typer.Option(help="Reviewed sentences (JSON Lines with relation).", show_default=False)
    ],
) -> None:
    """Read Label Studio's JSON export back into gold sentences, which `mbre evaluate --gold` and `mbre
    export --reviewed` accept."""
    from mbre.dataset.labelstudio import read_export

    instances, unanswered = read_export(export)
    _write_reviewed(instances, unanswered, out)


def _require_run_dir(run: Path) -> None:
    """push and pull remember the project in the run directory, so they need the directory itself."""
    if not run.is_dir():
        raise InputError(str(run), "not a run directory")


def _write_reviewed(instances: list[Instance], unanswered: int, out: Path) -> None:
    ensure_dir(out.parent)
    lines = [instance.model_dump_json(exclude_none=True) for instance in instances]
    write_atomic(out, "".join(line + "\n" for line in lines))
    counts = Counter(instance.relation for instance in instances)
    print_rows(
        Rows(
            title=f"{len(instances)} reviewed sentences",
            headers=["label", "sentences"],
            rows=[[str(label), str(count)] for label, count in sorted(counts.items())],
        )
    )
    console.print(f"wrote {out}; {unanswered} tasks without a submitted answer were left out")
