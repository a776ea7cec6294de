"""The one error type for bad input: it always names the file, the line and the field."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input, located precisely enough to fix without guessing."""

    def __init__(self, source: str, message: str, *, line: int | None = None, field: str | None = None):
        self.source = source
        self.line = line
        self.field = field
        self.reason = message
        where = source if line is None else f"{source}:{line}"
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}: {what}{message}")


def pydantic_field(loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic error location into a dotted field path such as `head.start`."""
    return ".".join(str(part) for part in loc) or "(record)"
