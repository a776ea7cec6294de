"""`python -m mbre` is the `mbre` command."""

from mbre.cli import app

app(prog_name="mbre")
