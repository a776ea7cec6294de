"""The one way a command prints a table: `Rows` (as reports build them) rendered with rich, the first
column a name, the others figures."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from mbre.cli.console import table_console
from mbre.schemas.table import Rows


def print_rows(rows: Rows, console: Console | None = None) -> None:
    table = Table(title=rows.title)
    for index, header in enumerate(rows.headers):
        table.add_column(header, justify="left" if index == 0 else "right")
    for row in rows.rows:
        table.add_row(*row)
    (console or table_console()).print(table)
