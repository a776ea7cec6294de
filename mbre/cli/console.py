"""Where the commands write: messages, warnings and progress to standard error, result tables to standard
output."""

from __future__ import annotations

import logging
import os

from rich.console import Console
from rich.text import Text

from mbre.files import mask

console = Console(stderr=True)


class _Warnings(logging.Handler):
    """mbre's warnings (a tokenizer that failed, say) as one yellow line on the console, above any
    progress bar; mbre's own text, so masked like its errors."""

    def emit(self, record: logging.LogRecord) -> None:
        console.print(Text.assemble(("warning:", "yellow"), " ", mask(record.getMessage())), soft_wrap=True)


def show_warnings() -> None:
    """Print the warnings that mbre's modules log (`logging.getLogger(__name__)`), once per process."""
    logger = logging.getLogger("mbre")
    if not any(isinstance(handler, _Warnings) for handler in logger.handlers):
        logger.addHandler(_Warnings(logging.WARNING))


def table_console() -> Console:
    """Standard output for result tables. Piped into a file, rich would cut tables at 80 columns, so the
    width is then 200 unless COLUMNS says otherwise."""
    out = Console()
    return out if out.is_terminal or "COLUMNS" in os.environ else Console(width=200)
