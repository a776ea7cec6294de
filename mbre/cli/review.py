"""`mbre review export|import`: the samples worth a person's look as Label Studio tasks, and the reviewed
labels back as gold sentences."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from mbre.cli.console import console
from mbre.cli.options import NoRelationOpt, RunArg, SchemaOpt, SeedOpt
from mbre.cli.tables import print_rows
from mbre.files import ensure_dir, write_atomic
from mbre.schemas.options import ReviewSelection
from mbre.schemas.table import Rows

review_app = typer.Typer(
    help="Review samples in Label Studio: export tasks and the labelling config, import the answers.",
    no_args_is_help=True,
)


@review_app.command("export")
def review_export_command(
    run: RunArg,
    out: Annotated[
        Path, typer.Option(help="Directory for tasks.json and label_config.xml.", show_default=False)
    ],
    select: Annotated[
        ReviewSelection,
        typer.Option(help="uncertain: the doubtful first; all: run order; random: a seeded draw."),
    ] = "uncertain",
    limit: Annotated[int | None, typer.Option(help="At most N tasks.")] = None,
    seed: SeedOpt = 0,
    low_confidence: Annotated[
        float, typer.Option(help="--select uncertain: labels below this confidence are doubtful.")
    ] = 0.9,
    relations: SchemaOpt = None,
    no_relation: NoRelationOpt = None,
) -> None:
    """Write Label Studio tasks (the sentence with its entities marked, mbre's label as a scored prediction)
    and the labelling config that goes with them."""
    from mbre.dataset.labelstudio import choices_of, label_config, to_task
    from mbre.dataset.selection import select_for_review
    from mbre.run.rundir import read_samples, samples_path
    from mbre.schemas.relations import RelationSchema

    schema = RelationSchema.from_file(relations, no_relation=no_relation) if relations else None
    samples = read_samples(samples_path(run))
    chosen = select_for_review(samples, select, limit=limit, seed=seed, low_confidence=low_confidence)
    ensure_dir(out)
    tasks = [to_task(sample, doubt) for sample, doubt in chosen]
    write_atomic(out / "tasks.json", json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
    write_atomic(out / "label_config.xml", label_config(choices_of(schema, samples)))
    reasons = Counter(doubt.reason or "no doubt" for _, doubt in chosen)
    print_rows(
        Rows(
            title=f"{len(tasks)} tasks ({select})",
            headers=["why", "tasks"],
            rows=[[reason, str(count)] for reason, count in reasons.most_common()],
        )
    )
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
