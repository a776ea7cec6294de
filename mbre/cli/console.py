"""Where the commands write: messages and progress to standard error, result tables to standard output."""

from __future__ import annotations

import os

from rich.console import Console

console = Console(stderr=True)


def table_console() -> Console:
    """Standard output for result tables. Piped into a file, rich would cut tables at 80 columns, so the
    width is then 200 unless COLUMNS says otherwise."""
    out = Console()
    return out if out.is_terminal or "COLUMNS" in os.environ else Console(width=200)
