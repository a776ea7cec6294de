"""Where a long comparison stands before all its arms have finished:

    python bench/arms_so_far.py REPORT_DIR [--no-relation Other] [--arms logprobs,sampled-3]

REPORT_DIR is a report directory of `bench/evaluate_gold.py` (one run directory per arm), or a folder of
them (`bench/confidence_sources.py`'s, one per confidence source): every run directory below it is an arm,
named by its path (--arms keeps those whose path starts with one of the names). Each arm is scored on the
sentences every arm has labelled so far, so the rows compare like with like while a run is still going:
micro precision, recall and F1 over the positive labels, LLM calls a sentence, precision and yield where
the precision-yield curve (samples ranked by confidence) first reaches 0.5 and 0.7, the share of answers
(group answers and verdicts) that came with a confidence, the number of distinct sample confidences (a
constant one ranks nothing), the labels the decision accepted on their score (rule `scored`) and how many
of them are right, the sentences with a positive gold label where that label was a candidate (and so
verified), and the prompt tokens a sentence. A second table pairs the arms sentence by sentence: the
positive labels one arm got right and the other not, each way, with the two-sided exact sign test's p of
that split (is one arm's lead beyond chance?). No LLM call. The final report (`report.md`) is written
when every arm is done.
"""

from __future__ import annotations

import argparse
from itertools import combinations
from math import comb
from pathlib import Path

from decision_dev import results_table
from rich.console import Console
from rich.table import Table

from mbre.evaluation.curves import operating_point, precision_yield
from mbre.evaluation.metrics import prf
from mbre.schemas.results import Sample


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("report_dir", type=Path)
    parser.add_argument("--no-relation", default="Other", help="The inventory's no-relation label.")
    parser.add_argument("--arms", default="", help="Comma-separated arm names (path prefixes); all if empty.")
    args = parser.parse_args()
    wanted = [name for name in args.arms.split(",") if name]
    arms = {
        str(path.parent.relative_to(args.report_dir)): {
            s.id: s for s in map(Sample.model_validate_json, path.open())
        }
        for path in sorted(args.report_dir.glob("**/samples.jsonl"))
    }
    arms = {
        name: samples
        for name, samples in arms.items()
        if samples and (not wanted or any(name.startswith(w) for w in wanted))
    }
    if not arms:
        parser.error(f"{args.report_dir}: no arm has labelled a sentence yet")
    common = sorted(set.intersection(*(set(samples) for samples in arms.values())))
    columns = ["arm", "sentences", "precision", "recall", "F1", "calls / sentence"]
    columns += ["precision @ yield (p>=0.5)", "precision @ yield (p>=0.7)"]
    columns += ["answers with a confidence", "distinct confidences", "scored / right", "gold a candidate"]
    columns += ["prompt tokens / sentence"]
    table = results_table(f"{args.report_dir.name}: {len(common)} sentences every arm has labelled", columns)
    for name, samples in arms.items():
        rows = [samples[i] for i in common]
        gold = [s.gold for s in rows if s.gold is not None]
        if len(gold) != len(rows):
            parser.error(f"{args.report_dir / name}: every sample needs its gold label")
        scores = prf(gold, [s.relation for s in rows], no_relation=args.no_relation).micro
        calls = sum(s.decision.usage.calls for s in rows) / len(rows) if rows else 0.0
        tokens = sum(s.decision.usage.prompt_tokens for s in rows) / len(rows) if rows else 0.0
        scored = [s for s in rows if s.decision.rule == "scored"]
        positive = [s for s in rows if s.gold != args.no_relation]
        found = sum(s.gold in s.decision.candidates for s in positive)
        answers = [a.confidence for s in rows for a in s.decision.extractions]
        answers += [v.confidence for s in rows for v in s.decision.verdicts]
        stated = sum(confidence is not None for confidence in answers)
        curve = precision_yield(rows, gold, args.no_relation)
        points = [operating_point(curve, target) for target in (0.5, 0.7)]
        table.add_row(
            name,
            str(len(samples)),
            f"{scores.precision:.3f}",
            f"{scores.recall:.3f}",
            f"{scores.f1:.3f}",
            f"{calls:.2f}",
            *(f"{p.precision:.3f} @ {p.yield_share:.2f}" if p else "-" for p in points),
            f"{stated}/{len(answers)}",
            str(len({s.confidence for s in rows if s.confidence is not None})),
            f"{len(scored)} / {sum(s.relation == s.gold for s in scored)}",
            f"{found} / {len(positive)}",
            f"{tokens:,.0f}",
        )
    console = Console(width=220)
    console.print(table)
    if len(arms) > 1:
        console.print(paired(arms, common, args.no_relation))


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: how likely a split at least this uneven is if neither arm is better."""
    n = wins + losses
    return min(1.0, 2 * sum(comb(n, k) for k in range(min(wins, losses) + 1)) / 2**n) if n else 1.0


def paired(arms: dict[str, dict[str, Sample]], common: list[str], no_relation: str) -> Table:
    """Per pair of arms, the common sentences whose positive gold label one got right and the other not."""
    table = results_table("right in one arm, not the other", ["arm A", "arm B", "A only", "B only", "sign p"])

    def right(sample: Sample) -> bool:
        return sample.gold != no_relation and sample.relation == sample.gold

    for (a, first), (b, second) in combinations(arms.items(), 2):
        only_a = sum(right(first[i]) and not right(second[i]) for i in common)
        only_b = sum(right(second[i]) and not right(first[i]) for i in common)
        table.add_row(a, b, str(only_a), str(only_b), f"{sign_test(only_a, only_b):.2f}")
    return table


if __name__ == "__main__":
    main()
