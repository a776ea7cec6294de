"""`mbre view`: a run's samples as one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mbre.cli.console import console
from mbre.cli.options import NoRelationOpt, RunArg, SchemaOpt
from mbre.files import ensure_dir, write_atomic


def view_command(
    run: RunArg,
    out: Annotated[
        Path | None, typer.Option(help="The HTML file to write (default: samples.html beside the samples).")
    ] = None,
    relations: SchemaOpt = None,
    no_relation: NoRelationOpt = None,
) -> None:
    """Write one HTML page of a run's samples: each sentence with its head and tail, the direction, label,
    confidence and rule, right or wrong where the input had gold labels, the group answers and verdicts on a
    click, filters, sorting and charts. It opens from disk, offline."""
    from mbre.run.inputs import run_schema
    from mbre.run.rundir import read_samples, samples_path
    from mbre.view.page import render_page, run_facts

    source = samples_path(run)
    samples = read_samples(source)
    schema = run_schema(run, relations, no_relation)
    target = out or source.with_suffix(".html")
    ensure_dir(target.parent)
    title = f"mbre samples: {run}"
    page = render_page(samples, title=title, run=run_facts(samples, str(source)), schema=schema)
    write_atomic(target, page)
    console.print(f"{len(samples)} samples written to {target}")
