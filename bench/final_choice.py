"""Does one last multiple-choice question over a sentence's candidates pick the right one more often than
their verdicts do? Measured on dev runs, asking only that question:

    MBRE_CACHE_PATH=... python bench/final_choice.py RUN_DIR [RUN_DIR ...] [--model local] [--orders 2]

Each RUN_DIR is a report directory of `bench/evaluate_gold.py` (mbre, with gold labels and `seeds.jsonl`).
For every sentence with two or more scored candidates, the candidates are offered as the options of one
group question (their statements with the entities' words, their examples, "none" last), in the order of
their recorded scores and, with --orders 2, reversed too, and the two distributions averaged (each option
sits once near the top and once near the bottom). The table compares, per run, the recorded decision with
the final choice alone and with the final choice combined with the verdicts (the mean of their log-odds):
how often the gold label is picked when it is among the candidates, and precision and F1 at thresholds.
"""

from __future__ import annotations

import argparse
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from decision_dev import load_run, results_table
from rich.console import Console

from mbre.graph.context import MbreContext
from mbre.graph.questions import ask_group
from mbre.inventory.inventory import Inventory
from mbre.run.config import load_context
from mbre.schemas.instances import Instance
from mbre.schemas.results import Sample

THRESHOLDS = (0.5, 0.6, 0.7, 0.8)
SCORES = ("recorded", "final", "final + verdicts")


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def final_choice(
    sample: Sample, inventory: Inventory, ctx: MbreContext, orders: int
) -> dict[str, float] | None:
    """Each candidate's share of the final question's answer, against "none" too (None: under two
    candidates or no distribution)."""
    scores = sample.decision.scores
    if len(scores) < 2:
        return None
    candidates = sorted(scores, key=lambda label: -scores[label])
    instance = Instance(id=sample.id, text=sample.text, head=sample.head, tail=sample.tail)
    totals = dict.fromkeys([*candidates, None], 0.0)
    for order in (candidates, candidates[::-1])[:orders]:
        answer = ask_group(inventory, ctx, order, instance)
        if answer.parsed is None or answer.parsed.probabilities is None:
            return None
        for label, p in zip([*order, None], answer.parsed.probabilities, strict=True):
            totals[label] += p / orders
    return {label: p for label, p in totals.items() if label is not None} | {"": totals[None]}


def decided(scores: dict[str, float]) -> tuple[str, float] | None:
    if not scores:
        return None
    label = max(scores, key=lambda name: scores[name])
    return label, scores[label]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--model", default="local")
    parser.add_argument("--orders", type=int, choices=(1, 2), default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    ctx = load_context(model=args.model, shots=1)
    columns = ["run", "n", "score", "gold picked / among candidates"]
    columns += [f"P / F1 at {t:g}" for t in THRESHOLDS]
    table = results_table("the final choice over the candidates, on dev runs", columns)
    for run in args.runs:
        samples, inventory, no_relation = load_run(run)
        with ThreadPoolExecutor(args.concurrency) as pool:
            asked = [pool.submit(final_choice, s, inventory, ctx, args.orders) for s in samples]
            finals = [future.result() for future in asked]
        rows: dict[str, list[tuple[str, float] | None]] = {name: [] for name in SCORES}
        for sample, final in zip(samples, finals, strict=True):
            recorded = dict(sample.decision.scores)
            rows["recorded"].append(decided(recorded))
            if final is None:
                rows["final"].append(decided(recorded))
                rows["final + verdicts"].append(decided(recorded))
                continue
            none = final[""]
            share = {label: p / (p + none) if p + none else 0.0 for label, p in final.items() if label}
            rows["final"].append(decided(share))
            both = {
                label: 1 / (1 + math.exp(-(_logit(recorded[label]) + _logit(share[label])) / 2))
                for label in share
            }
            rows["final + verdicts"].append(decided(both))
        positives = sum(s.gold != no_relation for s in samples)
        among = sum(s.gold in s.decision.scores for s in samples if s.gold != no_relation)
        for name, picks in rows.items():
            picked = sum(p is not None and p[0] == s.gold for p, s in zip(picks, samples, strict=True))
            cells = []
            for threshold in THRESHOLDS:
                pairs = zip(picks, samples, strict=True)
                kept = [p[0] == s.gold for p, s in pairs if p and p[1] >= threshold]
                precision = sum(kept) / len(kept) if kept else 0.0
                recall = sum(kept) / positives if positives else 0.0
                f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
                cells.append(f"{precision:.3f} / {f1:.3f}")
            table.add_row(run.name, str(len(samples)), name, f"{picked} / {among}", *cells)
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
