"""Rendering of a student comparison: its tables as rows of text, and report.md and report.json on disk."""

from __future__ import annotations

from pathlib import Path

from mbre.evaluation.report import markdown_table, number, reproduce_lines, write_text
from mbre.files import ensure_dir
from mbre.schemas.table import Rows
from mbre.student.comparison import StudentComparison


def student_rows(comparison: StudentComparison) -> Rows:
    runs = (comparison.discovered, comparison.gold)
    with_semeval = any(s.semeval_macro_f1 is not None for run in runs for s in run.scores.values())
    headers = ["student", "trained on", "samples", "accuracy", "P micro", "R micro", "F1 micro", "P macro"]
    headers += ["R macro", "F1 macro"] + (["SemEval F1"] if with_semeval else [])
    rows = []
    for student in comparison.discovered.scores:
        for run in runs:
            s = run.scores[student]
            row = [
                student,
                run.trained_on,
                str(run.train_size),
                number(s.accuracy),
                number(s.micro.precision),
            ]
            row += [
                number(s.micro.recall),
                number(s.micro.f1),
                number(s.macro.precision),
                number(s.macro.recall),
            ]
            rows.append(row + [number(s.macro.f1)] + ([number(s.semeval_macro_f1)] if with_semeval else []))
    title = f"students on {comparison.test_size} gold test sentences"
    return Rows(title=title, headers=headers, rows=rows)


def distribution_rows(comparison: StudentComparison) -> Rows:
    discovered, gold = comparison.discovered.label_distribution, comparison.gold.label_distribution
    labels = sorted(discovered.keys() | gold.keys(), key=lambda label: (-discovered.get(label, 0), label))
    rows = [[label, str(discovered.get(label, 0)), str(gold.get(label, 0))] for label in labels]
    return Rows(title="training labels", headers=["label", "discovered", "gold control"], rows=rows)


def write_student(comparison: StudentComparison, out_dir: str | Path) -> list[Path]:
    """report.json and report.md of a student comparison."""
    out = ensure_dir(out_dir)
    return [
        write_text(out / "report.json", comparison.model_dump_json(indent=2) + "\n"),
        write_text(out / "report.md", student_markdown(comparison)),
    ]


def student_markdown(comparison: StudentComparison) -> str:
    lines = [
        "# mbre student",
        "",
        f"Each student trained on the discovered samples (keep {comparison.keep}, minimum confidence "
        f"{comparison.min_confidence or 'none'}, balance {comparison.balance}) and on as many gold samples "
        f"(seed {comparison.seed}), scored on the gold test set; no-relation label "
        f"`{comparison.no_relation}`. "
        "`tfidf`: entity-marked TF-IDF with logistic regression. `embeddings`: all-MiniLM-L6-v2 token "
        "vectors averaged over the head, the tail and the words between them, with logistic regression.",
        "",
        *markdown_table(student_rows(comparison)),
        *markdown_table(distribution_rows(comparison)),
        "## Reproduce",
        "",
    ]
    for origin in comparison.samples_provenance:
        lines += [
            f"- samples by `{origin.model}` ({origin.strategy}, decision {origin.decision_policy}, epsilon "
            f"{origin.epsilon:g}): prompts `{origin.prompt_hash}`, schema `{origin.schema_hash}`, grouping "
            f"`{origin.grouping_hash}`, mbre {origin.mbre_version}"
        ]
    return "\n".join(lines + reproduce_lines(comparison.run)) + "\n"
