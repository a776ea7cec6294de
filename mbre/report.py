"""Rendering of evaluations: rich tables in the terminal; report.md, report.json and PNG charts on disk.

Nothing here computes a score. Each table is built once as rows of text and rendered both to the terminal
and to Markdown, so the two never disagree.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from mbre.evaluate import Evaluation, RunRecord, StrategyResult, StudentComparison

ABSTAINED = "(abstained)"


class Rows(BaseModel):
    """A table as text: what both the terminal and Markdown render."""

    title: str
    headers: list[str]
    rows: list[list[str]]


def strategy_rows(evaluation: Evaluation) -> Rows:
    with_semeval = any(r.semeval_macro_f1 is not None for r in evaluation.strategies)
    headers = ["strategy", "accuracy", "P micro", "R micro", "F1 micro", "F1 macro"]
    headers += ["SemEval F1"] if with_semeval else []
    headers += ["abstained", "calls/sent", "prompt tok/sent", "compl tok/sent", "s/sent"]
    headers += [f"calls vs {evaluation.reference}", f"prompt tok vs {evaluation.reference}"]
    rows = []
    for r in evaluation.strategies:
        row = [r.strategy, _f(r.accuracy), _f(r.micro.precision), _f(r.micro.recall), _f(r.micro.f1)]
        row += [_f(r.macro.f1)] + ([_f(r.semeval_macro_f1)] if with_semeval else [])
        cost = r.cost
        row += [_pct(r.abstained), f"{cost.calls_per_sentence:.2f}", f"{cost.prompt_tokens_per_sentence:.0f}"]
        row += [f"{cost.completion_tokens_per_sentence:.0f}", _f(cost.seconds_per_sentence, 2)]
        row += [_times(r.ratios["calls"]), _times(r.ratios["prompt_tokens"])]
        rows.append(row)
    title = f"{evaluation.setup.sentences} gold sentences, model {evaluation.setup.model}"
    return Rows(title=title, headers=headers, rows=rows)


def timing_notes(evaluation: Evaluation) -> list[str]:
    """Which s/sent figures rest on fewer sentences than were scored, so a partial timing is not misread."""
    notes = []
    for r in evaluation.strategies:
        cost = r.cost
        if cost.timed_sentences < cost.sentences:
            notes.append(
                f"s/sent of {r.strategy} is timed over {cost.timed_sentences} of {cost.sentences} sentences: "
                "the others were labelled by an interrupted invocation or from the LLM cache."
            )
    return notes


def sweep_rows(evaluation: Evaluation) -> Rows:
    rows = [[f"{s.epsilon:g}", _pct(s.kept), _f(s.precision)] for s in evaluation.epsilon_sweep]
    return Rows(title="epsilon sweep (mbre, replayed)", headers=["epsilon", "kept", "precision"], rows=rows)


def route_rows(evaluation: Evaluation) -> Rows:
    headers = ["groups asked", "groups/sent", "calls/sent", "accuracy", "recall", "F1", "F1 macro"]
    headers += ["recall lost"]
    rows = [
        [
            "all" if r.top_k is None else f"of the {r.top_k} nearest",
            f"{r.groups_per_sentence:.2f}",
            f"{r.calls_per_sentence:.2f}",
            _f(r.accuracy),
            _f(r.recall),
            _f(r.f1),
            _f(r.macro_f1),
            _f(r.recall_lost),
        ]
        for r in evaluation.route
    ]
    return Rows(title="route_top_k (mbre, replayed)", headers=headers, rows=rows)


def label_rows(result: StrategyResult) -> Rows:
    rows = [
        [s.label, str(s.support), str(s.predicted), str(s.correct), _f(s.precision), _f(s.recall), _f(s.f1)]
        for s in result.per_label
    ]
    headers = ["label", "gold", "predicted", "correct", "precision", "recall", "F1"]
    return Rows(title=f"per label: {result.strategy}", headers=headers, rows=rows)


def confusion_rows(result: StrategyResult) -> Rows:
    labels = result.confusion.labels
    rows = [[gold, *map(str, counts)] for gold, counts in zip(labels, result.confusion.matrix, strict=True)]
    title = f"confusion: {result.strategy} (rows gold, columns predicted)"
    return Rows(title=title, headers=["gold \\ predicted", *labels, ABSTAINED], rows=rows)


def student_rows(comparison: StudentComparison) -> Rows:
    runs = (comparison.discovered, comparison.gold)
    with_semeval = any(s.semeval_macro_f1 is not None for run in runs for s in run.scores.values())
    headers = ["student", "trained on", "samples", "accuracy", "P micro", "R micro", "F1 micro", "P macro"]
    headers += ["R macro", "F1 macro"] + (["SemEval F1"] if with_semeval else [])
    rows = []
    for student in comparison.discovered.scores:
        for run in runs:
            s = run.scores[student]
            row = [student, run.trained_on, str(run.train_size), _f(s.accuracy), _f(s.micro.precision)]
            row += [_f(s.micro.recall), _f(s.micro.f1), _f(s.macro.precision), _f(s.macro.recall)]
            rows.append(row + [_f(s.macro.f1)] + ([_f(s.semeval_macro_f1)] if with_semeval else []))
    title = f"students on {comparison.test_size} gold test sentences"
    return Rows(title=title, headers=headers, rows=rows)


def distribution_rows(comparison: StudentComparison) -> Rows:
    discovered, gold = comparison.discovered.label_distribution, comparison.gold.label_distribution
    labels = sorted(discovered.keys() | gold.keys(), key=lambda label: (-discovered.get(label, 0), label))
    rows = [[label, str(discovered.get(label, 0)), str(gold.get(label, 0))] for label in labels]
    return Rows(title="training labels", headers=["label", "discovered", "gold control"], rows=rows)


def rich_table(rows: Rows) -> Table:
    table = Table(title=rows.title)
    for index, header in enumerate(rows.headers):
        table.add_column(header, justify="left" if index == 0 else "right")
    for row in rows.rows:
        table.add_row(*row)
    return table


def print_evaluation(evaluation: Evaluation, console: Console) -> None:
    console.print(rich_table(strategy_rows(evaluation)))
    for note in timing_notes(evaluation):
        console.print(note, highlight=False)
    if evaluation.epsilon_sweep:
        console.print(rich_table(sweep_rows(evaluation)))
    if evaluation.route:
        console.print(rich_table(route_rows(evaluation)))


def print_student(comparison: StudentComparison, console: Console) -> None:
    console.print(rich_table(student_rows(comparison)))


def write_evaluation(evaluation: Evaluation, out_dir: str | Path) -> list[Path]:
    """report.json, report.md, f1_and_calls.png, epsilon.png (with an mbre run), confusion_<strategy>.png."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [_write(out / "report.json", evaluation.model_dump_json(indent=2) + "\n")]
    written.append(_write(out / "report.md", evaluation_markdown(evaluation)))
    written.append(_save(f1_and_calls_chart(evaluation), out / "f1_and_calls.png"))
    if evaluation.epsilon_sweep:
        written.append(_save(epsilon_chart(evaluation), out / "epsilon.png"))
    for result in evaluation.strategies:
        written.append(_save(confusion_chart(result), out / f"confusion_{result.strategy}.png"))
    return written


def write_student(comparison: StudentComparison, out_dir: str | Path) -> list[Path]:
    """report.json and report.md of a student comparison."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [
        _write(out / "report.json", comparison.model_dump_json(indent=2) + "\n"),
        _write(out / "report.md", student_markdown(comparison)),
    ]


def evaluation_markdown(evaluation: Evaluation) -> str:
    setup = evaluation.setup
    sliced = f"{setup.limit} drawn with seed {setup.seed}" if setup.limit is not None else "all"
    lines = [
        "# mbre evaluation",
        "",
        f"Sentences: {setup.sentences} ({sliced}). Cost ratios divide by **{evaluation.reference}**. Scores "
        "are over the positive labels; a sentence without a label (abstained, or no sample) counts as wrong.",
        "",
        *_markdown(strategy_rows(evaluation)),
        *[line for note in timing_notes(evaluation) for line in (note, "")],
        "![F1 and calls per strategy](f1_and_calls.png)",
        "",
    ]
    if evaluation.epsilon_sweep:
        lines += [*_markdown(sweep_rows(evaluation)), "![precision against share kept](epsilon.png)", ""]
    if evaluation.route:
        lines += _markdown(route_rows(evaluation))
        lines += ["Calls count one per recorded answer; re-asks of unparseable answers are not counted.", ""]
    for result in evaluation.strategies:
        lines += _markdown(label_rows(result)) + _markdown(confusion_rows(result))
        lines += [f"![confusion matrix of {result.strategy}](confusion_{result.strategy}.png)", ""]
        if result.no_sample:
            lines += [f"{len(result.no_sample)} sentences got no sample: {', '.join(result.no_sample)}", ""]
    lines += ["## Reproduce", "", f"- model: `{setup.model}`", f"- prompts sha256: `{setup.prompt_hash}`"]
    lines += [f"- schema sha256: `{setup.schema_hash}`", f"- grouping sha256: `{setup.grouping_hash}`"]
    lines += [f"- group {index}: {', '.join(group)}" for index, group in enumerate(setup.groups)]
    lines += [f"- no-relation label: `{setup.no_relation}`"]
    lines += [f"- setting `{name}`: `{value}`" for name, value in setup.settings.items()]
    return "\n".join(lines + _run_lines(evaluation.run)) + "\n"


def student_markdown(comparison: StudentComparison) -> str:
    lines = [
        "# mbre student",
        "",
        "Each student trained on the discovered samples and on as many gold samples (seed "
        f"{comparison.seed}), scored on the gold test set; no-relation label `{comparison.no_relation}`. "
        "`tfidf`: entity-marked TF-IDF with logistic regression. `embeddings`: all-MiniLM-L6-v2 token "
        "vectors averaged over the head, the tail and the words between them, with logistic regression.",
        "",
        *_markdown(student_rows(comparison)),
        *_markdown(distribution_rows(comparison)),
        "## Reproduce",
        "",
    ]
    for origin in comparison.samples_provenance:
        lines += [
            f"- samples by `{origin.model}` ({origin.strategy}, decision {origin.decision_policy}, epsilon "
            f"{origin.epsilon:g}): prompts `{origin.prompt_hash}`, schema `{origin.schema_hash}`, grouping "
            f"`{origin.grouping_hash}`, mbre {origin.mbre_version}"
        ]
    return "\n".join(lines + _run_lines(comparison.run)) + "\n"


def _run_lines(run: RunRecord) -> list[str]:
    lines = [f"- {role}: `{record.path}` sha256 `{record.sha256}`" for role, record in run.files.items()]
    lines += [f"- mbre {run.mbre_version}, {run.date.isoformat()}", "", "```", shlex.join(run.command), "```"]
    return lines


def _markdown(rows: Rows) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    align = ["---", *["---:"] * (len(rows.headers) - 1)]
    return [f"### {rows.title}", "", line(rows.headers), line(align), *map(line, rows.rows), ""]


def f1_and_calls_chart(evaluation: Evaluation) -> Figure:
    names = [r.strategy for r in evaluation.strategies]
    figure = Figure(figsize=(9, 3.8), layout="constrained")
    scores, calls = figure.subplots(1, 2)
    series = {"F1 micro": [r.micro.f1 for r in evaluation.strategies]}
    series["F1 macro"] = [r.macro.f1 for r in evaluation.strategies]
    if all(r.semeval_macro_f1 is not None for r in evaluation.strategies):
        series["SemEval F1"] = [r.semeval_macro_f1 or 0.0 for r in evaluation.strategies]
    width = 0.8 / len(series)
    for index, (name, values) in enumerate(series.items()):
        scores.bar([x + index * width for x in range(len(names))], values, width, label=name)
    scores.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(names))], names)
    scores.set_ylim(0, 1)
    scores.set_title("F1 over the positive labels")
    scores.legend(fontsize="small")
    calls.bar(names, [r.cost.calls_per_sentence for r in evaluation.strategies], color="tab:gray")
    calls.set_title("LLM calls per sentence")
    return figure


def epsilon_chart(evaluation: Evaluation) -> Figure:
    points = [s for s in evaluation.epsilon_sweep if s.precision is not None]
    figure = Figure(figsize=(5, 4), layout="constrained")
    axes = figure.subplots()
    axes.plot([s.kept for s in points], [s.precision for s in points], marker="o")
    labels: dict[tuple[float, float], list[str]] = {}  # epsilons that keep the same share share a label
    for s in points:
        labels.setdefault((s.kept, s.precision or 0.0), []).append(f"{s.epsilon:g}")
    for point, epsilons in labels.items():
        text = "ε=" + "\n   ".join(epsilons)
        axes.annotate(text, point, textcoords="offset points", xytext=(4, -6), va="top", fontsize="small")
    axes.set_xlabel("share of sentences kept")
    axes.set_ylabel("precision of the kept labels")
    axes.set_title("epsilon sweep (mbre)")
    axes.set_xlim(0, 1.05)
    axes.set_ylim(0, 1.05)
    return figure


def confusion_chart(result: StrategyResult) -> Figure:
    labels = result.confusion.labels
    size = 2.5 + 0.35 * len(labels)
    figure = Figure(figsize=(size + 1, size), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(result.confusion.matrix, cmap="Blues")
    peak = max(max(row) for row in result.confusion.matrix)
    for row, counts in enumerate(result.confusion.matrix):
        for column, count in enumerate(counts):
            if count:
                color = "white" if count > peak / 2 else "black"
                axes.text(column, row, str(count), ha="center", va="center", color=color, fontsize="small")
    figure.colorbar(image, ax=axes, shrink=0.8)
    axes.set_xticks(range(len(labels) + 1), [*labels, ABSTAINED], rotation=90, fontsize="small")
    axes.set_yticks(range(len(labels)), labels, fontsize="small")
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    axes.set_title(f"confusion matrix: {result.strategy}")
    return figure


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure).print_png(str(path))
    return path


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"
