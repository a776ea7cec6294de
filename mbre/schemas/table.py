"""A table as rows of text: built once, rendered alike to the terminal (by the CLI) and to Markdown."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rows:
    """A titled table; the first column is a name, the others are figures."""

    title: str
    headers: list[str]
    rows: list[list[str]]
