"""Rendering of evaluations to disk: report.md and report.json, beside the charts; the tables as rows of text.

Nothing here computes a score. Each table is built once as `Rows` and rendered both to the terminal (by the
CLI) and to Markdown (here), so the two never disagree.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from mbre.evaluation.charts import (
    ABSTAINED,
    confusion_chart,
    epsilon_chart,
    f1_and_calls_chart,
    precision_yield_chart,
    save_png,
)
from mbre.evaluation.curves import TARGETS, operating_point
from mbre.evaluation.records import RunRecord
from mbre.evaluation.strategies import Evaluation, StrategyResult
from mbre.files import ensure_dir, mask, write_atomic
from mbre.schemas.table import Rows


def strategy_rows(evaluation: Evaluation) -> Rows:
    with_semeval = any(r.semeval_macro_f1 is not None for r in evaluation.strategies)
    headers = ["strategy", "accuracy", "P micro", "R micro", "F1 micro", "F1 macro"]
    headers += ["SemEval F1"] if with_semeval else []
    headers += ["abstained", "calls/sent", "prompt tok/sent", "processed tok/sent", "compl tok/sent"]
    headers += ["s/sent"]
    headers += [f"calls vs {evaluation.reference}", f"prompt tok vs {evaluation.reference}"]
    rows = []
    for r in evaluation.strategies:
        row = [
            r.name,
            number(r.accuracy),
            number(r.micro.precision),
            number(r.micro.recall),
            number(r.micro.f1),
        ]
        row += [number(r.macro.f1)] + ([number(r.semeval_macro_f1)] if with_semeval else [])
        cost = r.cost
        row += [_pct(r.abstained), f"{cost.calls_per_sentence:.2f}", f"{cost.prompt_tokens_per_sentence:.0f}"]
        per = cost.processed_prompt_tokens_per_sentence
        row += [f"{per:.0f}", f"{cost.completion_tokens_per_sentence:.0f}"]
        row += [number(cost.seconds_per_sentence, 2)]
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
                f"s/sent of {r.name} is timed over {cost.timed_sentences} of {cost.sentences} sentences: "
                "the others were labelled by an interrupted invocation or from the LLM cache."
            )
    return notes


def sweep_rows(evaluation: Evaluation) -> Rows:
    rows = [[f"{s.epsilon:g}", _pct(s.kept), number(s.precision)] for s in evaluation.epsilon_sweep]
    title = "epsilon sweep (mbre with the paper's rule, replayed)"
    return Rows(title=title, headers=["epsilon", "kept", "precision"], rows=rows)


def curve_rows(evaluation: Evaluation) -> Rows:
    """Each arm's greatest yield at each target precision, from its precision-yield curve."""
    headers = ["strategy", *(f"yield at P>={target:g}" for target in TARGETS), "yield at the run's labels"]
    rows = []
    for r in evaluation.strategies:
        cells = [r.name]
        for target in TARGETS:
            point = operating_point(r.curve, target)
            cells.append(
                "-"
                if point is None
                else f"{point.kept} ({_pct(point.yield_share)}, >= {point.threshold:.2f})"
            )
        kept = sum(label.predicted for label in r.per_label)
        cells.append(f"{kept} at P {number(r.micro.precision)}")
        rows.append(cells)
    return Rows(
        title="precision-yield operating points (replayed from the recorded scores)",
        headers=headers,
        rows=rows,
    )


def route_rows(evaluation: Evaluation) -> Rows:
    headers = ["groups asked", "groups/sent", "calls/sent", "accuracy", "recall", "F1", "F1 macro"]
    headers += ["recall lost"]
    rows = [
        [
            "all" if r.top_k is None else f"of the {r.top_k} nearest",
            f"{r.groups_per_sentence:.2f}",
            f"{r.calls_per_sentence:.2f}",
            number(r.accuracy),
            number(r.recall),
            number(r.f1),
            number(r.macro_f1),
            number(r.recall_lost),
        ]
        for r in evaluation.route
    ]
    return Rows(title="route_top_k (mbre, replayed)", headers=headers, rows=rows)


def label_rows(result: StrategyResult) -> Rows:
    rows = [
        [
            s.label,
            str(s.support),
            str(s.predicted),
            str(s.correct),
            number(s.precision),
            number(s.recall),
            number(s.f1),
        ]
        for s in result.per_label
    ]
    headers = ["label", "gold", "predicted", "correct", "precision", "recall", "F1"]
    return Rows(title=f"per label: {result.name}", headers=headers, rows=rows)


def confusion_rows(result: StrategyResult) -> Rows:
    labels = result.confusion.labels
    rows = [[gold, *map(str, counts)] for gold, counts in zip(labels, result.confusion.matrix, strict=True)]
    title = f"confusion: {result.name} (rows gold, columns predicted)"
    return Rows(title=title, headers=["gold \\ predicted", *labels, ABSTAINED], rows=rows)


def write_evaluation(evaluation: Evaluation, out_dir: str | Path) -> list[Path]:
    """report.json, report.md, f1_and_calls.png, epsilon.png (with an mbre run), confusion_<strategy>.png."""
    out = ensure_dir(out_dir)
    written = [write_text(out / "report.json", evaluation.model_dump_json(indent=2) + "\n")]
    written.append(write_text(out / "report.md", evaluation_markdown(evaluation)))
    written.append(save_png(f1_and_calls_chart(evaluation), out / "f1_and_calls.png"))
    written.append(save_png(precision_yield_chart(evaluation), out / "precision_yield.png"))
    if evaluation.epsilon_sweep:
        written.append(save_png(epsilon_chart(evaluation), out / "epsilon.png"))
    for result in evaluation.strategies:
        name = result.name.replace(":", "-")
        written.append(save_png(confusion_chart(result), out / f"confusion_{name}.png"))
    return written


def evaluation_markdown(evaluation: Evaluation) -> str:
    setup = evaluation.setup
    sliced = f"{setup.limit} drawn with seed {setup.seed}" if setup.limit is not None else "all"
    lines = [
        "# mbre evaluation",
        "",
        f"Sentences: {setup.sentences} ({sliced}). Cost ratios divide by **{evaluation.reference}**. Scores "
        "are over the positive labels; a sentence without a label (abstained, or no sample) counts as wrong.",
        "",
        *markdown_table(strategy_rows(evaluation)),
        *[line for note in timing_notes(evaluation) for line in (note, "")],
        "![F1 and calls per strategy](f1_and_calls.png)",
        "",
        *markdown_table(curve_rows(evaluation)),
        "![precision against yield](precision_yield.png)",
        "",
    ]
    if setup.calibration_calls:
        lines += [
            f"Calibration asked {setup.calibration_calls} questions about content-free sentences once, for "
            "every arm; they are not in the calls per sentence.",
            "",
        ]
    if evaluation.epsilon_sweep:
        lines += [*markdown_table(sweep_rows(evaluation)), "![precision against share kept](epsilon.png)", ""]
    if evaluation.route:
        lines += markdown_table(route_rows(evaluation))
        lines += ["Calls count one per recorded answer; re-asks of unparseable answers are not counted.", ""]
    for result in evaluation.strategies:
        lines += markdown_table(label_rows(result)) + markdown_table(confusion_rows(result))
        name = result.name.replace(":", "-")
        lines += [f"![confusion matrix of {result.name}](confusion_{name}.png)", ""]
        if result.no_sample:
            lines += [f"{len(result.no_sample)} sentences got no sample: {', '.join(result.no_sample)}", ""]
    lines += ["## Reproduce", "", f"- model: `{setup.model}`", f"- prompts sha256: `{setup.prompt_hash}`"]
    lines += [f"- schema sha256: `{setup.schema_hash}`", f"- grouping sha256: `{setup.grouping_hash}`"]
    lines += [f"- group {index}: {', '.join(group)}" for index, group in enumerate(setup.groups)]
    lines += [f"- no-relation label: `{setup.no_relation}`"]
    lines += [f"- setting `{name}`: `{value}`" for name, value in setup.settings.items()]
    return "\n".join(lines + reproduce_lines(evaluation.run)) + "\n"


def reproduce_lines(run: RunRecord) -> list[str]:
    lines = [f"- {role}: `{record.path}` sha256 `{record.sha256}`" for role, record in run.files.items()]
    lines += [f"- mbre {run.mbre_version}, {run.date.isoformat()}", "", "```", shlex.join(run.command), "```"]
    return lines


def markdown_table(rows: Rows) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    align = ["---", *["---:"] * (len(rows.headers) - 1)]
    return [f"### {rows.title}", "", line(rows.headers), line(align), *map(line, rows.rows), ""]


def write_text(path: Path, text: str) -> Path:
    """The whole file or none of it (`mbre.files.write_atomic`); a report is mbre's own text, so the
    secrets this process read are masked in it."""
    return write_atomic(path, mask(text))


def number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"
