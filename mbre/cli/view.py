"""`mbre view`: a run's samples as one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mbre.cli.console import console
from mbre.cli.options import RunArg
from mbre.files import ensure_dir, write_atomic


def view_command(
    run: RunArg,
    out: Annotated[
        Path | None, typer.Option(help="The HTML file to write (default: samples.html beside the samples).")
    ] = None,
) -> None:
    """Write one HTML page of a run's samples: each sentence with its head and tail, label, confidence and
    rule, the group answers and verdicts on a click, filters and charts. It opens from disk, offline."""
    from mbre.run.rundir import read_samples, samples_path
    from mbre.view.page import render_page, run_facts

    source = samples_path(run)
    samples = read_samples(source)
    target = out or source.with_suffix(".html")
    ensure_dir(target.parent)
    page = render_page(samples, title=f"mbre samples: {run}", run=run_facts(samples, str(source)))
    write_atomic(target, page)
    console.print(f"{len(samples)} samples written to {target}")
