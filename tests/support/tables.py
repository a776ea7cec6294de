"""Reading a command's printed two-column table (name, figure) back, for assertions on its figures."""

from __future__ import annotations


def figures(output: str) -> dict[str, str]:
    """The rows of the two-column rich tables in `output`, name -> figure."""
    cells = [line.split("│") for line in output.splitlines() if line.count("│") == 3]
    return {name.strip(): value.strip() for _, name, value, _ in cells}
