"""The one error handler of every command: an `MbreError` is one line, secrets masked, and its exit status
(2 for bad input, settings or services, 1 for a failing disk or cache, 128 + n for signal n); anything
else is a bug in mbre and keeps its traceback (exit 1). The warnings mbre logs print as one line too."""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from mbre.cli.console import console, show_warnings
from mbre.errors import MbreError
from mbre.files import mask


class HandledGroup(TyperGroup):
    """The app's command group; it runs each command under the handler."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]  # typer passes its subclass
        show_warnings()
        try:
            return super().invoke(ctx)
        except MbreError as error:
            console.print(Text.assemble(("error:", "bold red"), " ", mask(str(error))), soft_wrap=True)
            raise typer.Exit(error.exit_code) from error
