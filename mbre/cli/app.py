"""The `mbre` command: `pairs` makes candidate pairs from text, `types` and `examples` complete a relations
file (entity types; example sentences the model writes), `group` shows the relation groups, `plan` prices
a corpus, `discover` labels it, `view` shows a run, `review` sends samples to Label Studio and back,
`calibrate` picks thresholds, `export` writes a training set, `score` scores a finished run against its
input's gold labels, and `evaluate` and `student` score strategies and samples against gold data."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Annotated

import typer

from mbre.cli.calibrate import calibrate_command
from mbre.cli.discover import discover_command
from mbre.cli.errors import HandledGroup
from mbre.cli.evaluate import evaluate_command
from mbre.cli.examples import examples_command
from mbre.cli.export import export_command
from mbre.cli.group import group_command
from mbre.cli.pairs import pairs_command
from mbre.cli.plan import plan_command
from mbre.cli.review import review_app
from mbre.cli.score import score_command
from mbre.cli.student import student_command
from mbre.cli.types import types_command
from mbre.cli.view import view_command
from mbre.version import mbre_version

if TYPE_CHECKING:
    from typer._click.core import Command  # typer's own copy of click, whose types its groups use

#: The commands in the order a user needs them, from text to a training set, then the measuring ones;
#: `--help` lists them so (a command not named here comes last).
WORKFLOW = (
    "pairs",
    "types",
    "examples",
    "group",
    "plan",
    "discover",
    "view",
    "review",
    "calibrate",
    "export",
    "score",
    "evaluate",
    "student",
)


class WorkflowGroup(HandledGroup):
    """The app's command group: commands in workflow order, and a near miss named for a mistyped one
    (click names one for a mistyped option already)."""

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]  # typer's subclass
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: WORKFLOW.index(name) if name in WORKFLOW else len(WORKFLOW))

    def resolve_command(  # type: ignore[override]  # typer passes its subclass of the context
        self, ctx: typer.Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            near = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            if near:
                ctx.fail(f"No such command '{name}'. Did you mean '{near[0]}'?")
        return super().resolve_command(ctx, args)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mbre {mbre_version()}")
        raise typer.Exit()


app = typer.Typer(
    cls=WorkflowGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # a bug's traceback must not print settings or keys
)


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Find relation-extraction training samples in unlabeled text with LLMs (M-BRe)."""


app.command("pairs")(pairs_command)
app.command("types")(types_command)
app.command("examples")(examples_command)
app.command("group")(group_command)
app.command("plan")(plan_command)
app.command("discover")(discover_command)
app.command("view")(view_command)
app.add_typer(review_app, name="review")
app.command("calibrate")(calibrate_command)
app.command("export")(export_command)
app.command("score")(score_command)
app.command("evaluate")(evaluate_command)
app.command("student")(student_command)
