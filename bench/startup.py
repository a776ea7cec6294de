"""How long `mbre` takes to start, against the floor set by its command-line libraries.

    python bench/startup.py [--repeats 7]

Times, in fresh processes, `mbre --help`, `python -c "import mbre"` and `python -c "import typer, rich"`,
each several times, and prints the medians with their ratio to typer + rich. The target is within 4x:
`mbre --help` must not load the graph, FAISS, scikit-learn, matplotlib or the LLM clients.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

MBRE = Path(sys.executable).with_name("mbre")
COMMANDS = {
    "mbre --help": [str(MBRE), "--help"],
    'python -c "import mbre"': [sys.executable, "-c", "import mbre"],
    'python -c "import typer, rich"': [sys.executable, "-c", "import typer, rich"],
}
BASELINE = 'python -c "import typer, rich"'
TARGET = 4.0


def wall_seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    for command in COMMANDS.values():  # warm the file cache once, untimed
        wall_seconds(command)
    medians = {
        name: statistics.median(wall_seconds(command) for _ in range(args.repeats))
        for name, command in COMMANDS.items()
    }
    table = Table(
        title=f"start-up, median of {args.repeats} runs (target: within {TARGET:g}x of typer + rich)"
    )
    for column in ("command", "seconds", "vs typer + rich"):
        table.add_column(column, justify="left" if column == "command" else "right")
    for name, seconds in medians.items():
        table.add_row(name, f"{seconds:.3f}", f"{seconds / medians[BASELINE]:.1f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
