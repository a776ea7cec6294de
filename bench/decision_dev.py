"""Which score ranks mbre's labels best, and where should its default threshold sit? Replayed on dev runs:

    python bench/decision_dev.py RUN_DIR [RUN_DIR ...] [--thresholds 0.5,0.75]

Each RUN_DIR is a report directory of `bench/evaluate_gold.py` on a dev slice (SemEval train, CrossRE dev)
holding `mbre/samples.jsonl` (with gold labels) and `seeds.jsonl`. For every sentence the best candidate of
several scores is ranked: the calibrated decision's score (verifier and group combined), the verifier's
calibrated support alone, the group's preference alone, the combined score with only the nearest group
asked (`route_top_k=1`), and the verifier with the group at weights 0.25 and 0.5 (`group_weight`). The
table gives, per score, the AUC of "the best candidate is the gold label" among all sentences, the best
micro-F1 over the positive labels with its threshold, precision and F1 at each of --thresholds, and the
lowest threshold where precision reaches 0.5. No LLM call: the recorded answers are decided again. The
runs verified the inverse of the leader under the combined score (`check_inverse`); a score that leads
with another label would have had that label's inverse verified instead, so its rows are approximate.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mbre.graph.decision import candidate_scores, preference
from mbre.inventory.inventory import Inventory
from mbre.schemas.instances import Instance, read_instances
from mbre.schemas.relations import RelationSchema
from mbre.schemas.results import Sample

SEMEVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "semeval2010_task8"

Scorer = Callable[[Sample, Inventory], tuple[str, float] | None]


def best(scores: dict[str, float]) -> tuple[str, float] | None:
    if not scores:
        return None
    label = max(scores, key=lambda name: scores[name])
    return label, scores[label]


def combined(sample: Sample, inventory: Inventory) -> tuple[str, float] | None:
    return best(candidate_scores("mbre", sample.decision.extractions, sample.decision.verdicts))


def verifier(sample: Sample, inventory: Inventory) -> tuple[str, float] | None:
    return best(candidate_scores("binary", [], sample.decision.verdicts))


def group(sample: Sample, inventory: Inventory) -> tuple[str, float] | None:
    extractions = sample.decision.extractions
    scores = {v.label: preference(extractions, v.label) for v in sample.decision.verdicts}
    return best({label: score for label, score in scores.items() if score is not None})


def nearest_group(sample: Sample, inventory: Inventory) -> tuple[str, float] | None:
    """The combined score with only the nearest relation's group asked, as `route_top_k=1` would."""
    instance = Instance(id=sample.id, text=sample.text, head=sample.head, tail=sample.tail)
    groups = inventory.groups_to_ask(instance, "mbre", 1).groups
    extractions = [e for e in sample.decision.extractions if e.group in groups]
    kept = {label for label in sample.decision.candidates if inventory.grouping.group_of(label) in groups}
    kept |= {inverse for label in kept if (inverse := inventory.schema.inverse_of(label)) is not None}
    verdicts = [v for v in sample.decision.verdicts if v.label in kept]
    return best(candidate_scores("mbre", extractions, verdicts))


def data_of(run: Path) -> Path:
    """The data folder the run's command named (`--data`), SemEval when it named none."""
    command = json.loads((run / "mbre" / "manifest.json").read_text())["command"]
    return Path(command[command.index("--data") + 1]) if "--data" in command else SEMEVAL


def load_run(run: Path) -> tuple[list[Sample], Inventory, str]:
    """A dev run's samples, its inventory with the run's seeds (none for a run without examples), and
    the no-relation label."""
    samples = [Sample.model_validate_json(line) for line in (run / "mbre" / "samples.jsonl").open()]
    schema = RelationSchema.from_file(data_of(run) / "relations.json")
    seeds = run / "seeds.jsonl"
    inventory = Inventory.build(schema, seeds=read_instances(seeds) if seeds.exists() else ())
    return samples, inventory, schema.no_relation_label


def results_table(title: str, columns: Sequence[str]) -> Table:
    """A table whose run and score columns are text, the rest numbers."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in ("run", "score") else "right")
    return table


def weighted(weight: float) -> Scorer:
    """M-BRe's score at another `group_weight`: 1 is the combined score, 0 the verifier alone."""

    def score(sample: Sample, inventory: Inventory) -> tuple[str, float] | None:
        decision = sample.decision
        return best(candidate_scores("mbre", decision.extractions, decision.verdicts, weight))

    return score


def _rebalanced(p: float, prior: float) -> float:
    """p(yes) with the batch's prior for this question divided out (yes and no renormalised)."""
    yes, no = p / max(prior, 1e-6), (1 - p) / max(1 - prior, 1e-6)
    return yes / (yes + no)


def batch_calibrated(samples: Sequence[Sample], *, raw: bool, shrink: float = 5.0) -> Scorer:
    """Batch calibration (Zhou et al., ICLR 2024) from the run's own answers, no gold: each group's mean
    distribution over the run, and each label's mean p(yes) (shrunk towards the mean over all labels by
    `shrink` pseudo-answers), are the bias divided out. `raw`: of the model's probabilities, else of the
    content-free-calibrated ones."""
    sums: dict[int, list[float]] = {}
    counts: dict[int, int] = {}
    for sample in samples:
        for extraction in sample.decision.extractions:
            values = extraction.probabilities if raw else extraction.calibrated or extraction.probabilities
            if values is None:
                continue
            total = sums.setdefault(extraction.group, [0.0] * len(values))
            sums[extraction.group] = [a + b for a, b in zip(total, values, strict=True)]
            counts[extraction.group] = counts.get(extraction.group, 0) + 1
    group_prior = {g: [v / counts[g] for v in total] for g, total in sums.items()}
    yes: dict[str, list[float]] = {}
    for sample in samples:
        for verdict in sample.decision.verdicts:
            value = verdict.p_yes if raw else verdict.calibrated
            if value is not None and not verdict.abstained:
                yes.setdefault(verdict.label, []).append(value)
    everything = [v for values in yes.values() for v in values]
    overall = sum(everything) / len(everything) if everything else 0.5  # no logprobs: nothing to divide
    label_prior = {label: (sum(v) + shrink * overall) / (len(v) + shrink) for label, v in yes.items()}

    def score(sample: Sample, inventory: Inventory) -> tuple[str, float] | None:
        extractions = []
        for extraction in sample.decision.extractions:
            values = extraction.probabilities if raw else extraction.calibrated or extraction.probabilities
            if values is None or extraction.group not in group_prior:
                extractions.append(extraction)
                continue
            divided = [v / max(q, 1e-6) for v, q in zip(values, group_prior[extraction.group], strict=True)]
            total = sum(divided)
            extractions.append(extraction.model_copy(update={"calibrated": [v / total for v in divided]}))
        verdicts = []
        for verdict in sample.decision.verdicts:
            value = verdict.p_yes if raw else verdict.calibrated
            if value is None or verdict.abstained:
                verdicts.append(verdict)
                continue
            rebalanced = _rebalanced(value, label_prior[verdict.label])
            verdicts.append(verdict.model_copy(update={"calibrated": rebalanced}))
        return best(candidate_scores("mbre", extractions, verdicts))

    return score


#: Scores that need the whole run's answers (batch statistics) before they score one sentence.
BATCH_SCORERS: dict[str, Callable[[Sequence[Sample]], Scorer]] = {
    "batch-calibrated (of calibrated)": lambda samples: batch_calibrated(samples, raw=False),
    "batch-calibrated (of raw)": lambda samples: batch_calibrated(samples, raw=True),
}

SCORERS: dict[str, Scorer] = {
    "combined (default)": combined,
    "verifier alone": verifier,
    "group alone": group,
    "combined, nearest group": nearest_group,
    "verifier + 0.25 group": weighted(0.25),
    "verifier + 0.5 group": weighted(0.5),
}


def auc(ranked: Sequence[tuple[float, bool]]) -> float:
    positives = [score for score, right in ranked if right]
    negatives = [score for score, right in ranked if not right]
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def sweep(ranked: Sequence[tuple[float, bool]], positives: int) -> tuple[float, float, float | None]:
    """Best F1 and its threshold; the threshold of greatest yield with precision >= 0.5."""
    order = sorted(ranked, key=lambda item: -item[0])
    best_f1, best_t, half = 0.0, 1.0, None
    correct = 0
    for kept, (score, right) in enumerate(order, start=1):
        correct += right
        if kept < len(order) and order[kept][0] == score:
            continue
        precision, recall = correct / kept, correct / positives if positives else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if f1 > best_f1:
            best_f1, best_t = f1, score
        if precision >= 0.5:
            half = score
    return best_f1, best_t, half


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument(
        "--thresholds", type=lambda text: [float(t) for t in text.split(",")], default=[0.5, 0.75]
    )
    args = parser.parse_args()
    columns = ["run", "n", "score", "AUC", "best F1", "at"]
    columns += [f"P / F1 at {t:g}" for t in args.thresholds] + ["P>=0.5 from"]
    table = results_table("mbre's scores replayed on dev runs", columns)
    for run in args.runs:
        samples, inventory, no_relation = load_run(run)
        positives = sum(s.gold != no_relation for s in samples)
        scorers = SCORERS | {name: make(samples) for name, make in BATCH_SCORERS.items()}
        for name, scorer in scorers.items():
            ranked = []
            for sample in samples:
                scored = scorer(sample, inventory)
                if scored is not None:
                    ranked.append((scored[1], scored[0] == sample.gold))
            best_f1, at, half = sweep(ranked, positives)
            at_thresholds = []
            for threshold in args.thresholds:
                kept = [right for score, right in ranked if score >= threshold]
                p = sum(kept) / len(kept) if kept else 0.0
                r = sum(kept) / positives if positives else 0.0
                at_thresholds.append(f"{p:.3f} / {2 * p * r / (p + r) if p + r else 0.0:.3f}")
            table.add_row(
                run.name,
                str(len(samples)),
                name,
                f"{auc(ranked):.3f}",
                f"{best_f1:.3f}",
                f"{at:.3f}",
                *at_thresholds,
                "-" if half is None else f"{half:.3f}",
            )
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
