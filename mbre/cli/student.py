"""`mbre student`: classifiers trained on discovered samples and on as many gold ones, scored on gold data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mbre.cli.console import console
from mbre.cli.options import BalanceOpt, FormatOpt, KeepOpt, MinConfidenceOpt, ReportDirOpt, SeedOpt
from mbre.cli.tables import print_rows
from mbre.errors import InputError
from mbre.schemas.options import STUDENTS

if TYPE_CHECKING:
    from mbre.schemas.instances import Instance


def student_command(
    train: Annotated[
        Path, typer.Option("--train", help="Discovered samples, or the run directory.", show_default=False)
    ],
    test: Annotated[Path, typer.Option("--test", help="Gold-labelled test sentences.", show_default=False)],
    gold_train: Annotated[
        Path,
        typer.Option("--gold-train", help="Gold-labelled sentences for the control.", show_default=False),
    ],
    report_dir: ReportDirOpt,
    format: FormatOpt = "auto",
    no_relation: Annotated[
        str | None, typer.Option("--no-relation", help="The no-relation label (default: found in --test).")
    ] = None,
    students: Annotated[
        str, typer.Option(help="Comma-separated, from tfidf, embeddings (all-MiniLM-L6-v2, on the CPU).")
    ] = ",".join(STUDENTS),
    keep: KeepOpt = "all",
    min_confidence: MinConfidenceOpt = None,
    balance: BalanceOpt = "cap",
    seed: SeedOpt = 0,
) -> None:
    """Train relation classifiers on discovered samples, chosen as `mbre export` chooses them, and, as a
    control, on as many gold samples; score all on gold test data."""
    from mbre.evaluation.gold import load_gold
    from mbre.run.rundir import read_samples, samples_path
    from mbre.student.comparison import evaluate_student
    from mbre.student.report import student_rows, write_student
    from mbre.student.training import check_students

    samples_file = samples_path(train)
    kinds = check_students([name.strip() for name in students.split(",")])
    samples = read_samples(samples_file)
    test_instances = load_gold(test, format)
    pool = load_gold(gold_train, format)
    label = no_relation or _no_relation_of(test_instances, test)
    comparison = evaluate_student(
        samples,
        test_instances,
        pool,
        no_relation=label,
        students=kinds,
        keep=keep,
        min_confidence=min_confidence,
        balance=balance,
        seed=seed,
        files={"train": samples_file, "test": test, "gold_train": gold_train},
    )
    write_student(comparison, report_dir)
    print_rows(student_rows(comparison))
    console.print(f"report written to {report_dir / 'report.md'}")


def _no_relation_of(instances: list[Instance], source: Path) -> str:
    from mbre.schemas.relations import NO_RELATION_NAMES

    labels = {instance.relation for instance in instances}
    for name in NO_RELATION_NAMES:
        if name in labels:
            return name
    raise InputError(
        str(source), f"no no-relation label ({', '.join(NO_RELATION_NAMES)}) in the file: pass --no-relation"
    )
