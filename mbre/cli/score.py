"""`mbre score`: a finished run against the gold labels its input carried, in `mbre evaluate`'s report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mbre.cli.console import console, table_console
from mbre.cli.evaluate import print_evaluation
from mbre.cli.options import NoRelationOpt, SchemaOpt


def score_command(
    run: Annotated[Path, typer.Argument(help="A finished run directory.", show_default=False)],
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report-dir", help="Where to write report.md, report.json and charts (default: RUN/score)."
        ),
    ] = None,
    relations: SchemaOpt = None,
    no_relation: NoRelationOpt = None,
) -> None:
    """Score a run's labels against the gold labels of its input (the `relation` field each input line
    carried): accuracy, precision, recall and F1, per label and confusion, as `mbre evaluate` reports them.
    No LLM call: the samples are read, not asked again. Samples without a gold label are left out."""
    from mbre.evaluation.report import write_evaluation
    from mbre.evaluation.scoring import score_run
    from mbre.run.inputs import require_run_schema

    schema = require_run_schema(run, relations, no_relation)
    evaluation = score_run(run, schema, {"relations": relations} if relations else None)
    out = report_dir or run / "score"
    write_evaluation(evaluation, out)
    print_evaluation(evaluation, table_console())
    console.print(
        f"{evaluation.setup.sentences} samples with a gold label; report written to {out / 'report.md'}"
    )
