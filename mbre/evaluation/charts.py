"""The evaluation's PNG charts: F1 and calls per strategy, precision against yield, the epsilon sweep, one
confusion matrix each."""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mbre.evaluation.strategies import Evaluation, StrategyResult
from mbre.files import write_atomic

ABSTAINED = "(abstained)"


def f1_and_calls_chart(evaluation: Evaluation) -> Figure:
    names = [r.name for r in evaluation.strategies]
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
    points = [(s.kept, s.precision, s.epsilon) for s in evaluation.epsilon_sweep if s.precision is not None]
    figure = Figure(figsize=(5, 4), layout="constrained")
    axes = figure.subplots()
    axes.plot([kept for kept, _, _ in points], [precision for _, precision, _ in points], marker="o")
    labels: dict[tuple[float, float], list[str]] = {}  # epsilons that keep the same share share a label
    for kept, precision, epsilon in points:
        labels.setdefault((kept, precision), []).append(f"{epsilon:g}")
    for point, epsilons in labels.items():
        text = "ε=" + "\n   ".join(epsilons)
        axes.annotate(text, point, textcoords="offset points", xytext=(4, -6), va="top", fontsize="small")
    axes.set_xlabel("share of sentences kept")
    axes.set_ylabel("precision of the kept labels")
    axes.set_title("epsilon sweep (mbre)")
    axes.set_xlim(0, 1.05)
    axes.set_ylim(0, 1.05)
    return figure


def precision_yield_chart(evaluation: Evaluation) -> Figure:
    figure = Figure(figsize=(5.5, 4), layout="constrained")
    axes = figure.subplots()
    drawn = [r for r in evaluation.strategies if r.curve]
    for r in drawn:
        xs = [point.yield_share for point in r.curve]
        axes.plot(xs, [point.precision for point in r.curve], label=r.name, drawstyle="steps-post")
    axes.set_xlabel("share of sentences given a positive label")
    axes.set_ylabel("precision of those labels")
    axes.set_title("precision against yield (replayed)")
    axes.set_xlim(0, 1.05)
    axes.set_ylim(0, 1.05)
    if drawn:
        axes.legend(fontsize="small")
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


def save_png(figure: Figure, path: Path) -> Path:
    """Render, then write in one atomic step (`mbre.files.write_atomic`): never half a chart."""
    image = io.BytesIO()
    FigureCanvasAgg(figure).print_png(image)
    return write_atomic(path, image.getvalue())
