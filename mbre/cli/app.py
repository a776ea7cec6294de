"""The `mbre` command: `group` shows the relation groups, `plan` prices a corpus, `discover` labels it,
`evaluate` and `student` score strategies and samples against gold data, `calibrate` picks thresholds, `view`
shows a run, `review` sends samples to Label Studio and back, and `export` writes a training set."""

from __future__ import annotations

import typer

from mbre.cli.calibrate import calibrate_command
from mbre.cli.discover import discover_command
from mbre.cli.errors import HandledGroup
from mbre.cli.evaluate import evaluate_command
from mbre.cli.export import export_command
from mbre.cli.group import group_command
from mbre.cli.pairs import pairs_command
from mbre.cli.plan import plan_command
from mbre.cli.review import review_app
from mbre.cli.student import student_command
from mbre.cli.types import types_command
from mbre.cli.view import view_command

app = typer.Typer(
    cls=HandledGroup,
    help="Find relation-extraction training samples in unlabeled text with LLMs (M-BRe).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # a bug's traceback must not print settings or keys
)
app.command("pairs")(pairs_command)
app.command("types")(types_command)
app.command("group")(group_command)
app.command("discover")(discover_command)
app.command("plan")(plan_command)
app.command("evaluate")(evaluate_command)
app.command("student")(student_command)
app.command("calibrate")(calibrate_command)
app.command("view")(view_command)
app.add_typer(review_app, name="review")
app.command("export")(export_command)
