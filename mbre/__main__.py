"""`python -m mbre` is the `mbre` command."""

from mbre.cli.app import app

app(prog_name="mbre")
