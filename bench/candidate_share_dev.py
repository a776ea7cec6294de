"""Which of a group's answers are worth a verification? Replayed on dev runs made with `candidate_share` 0:

    python bench/candidate_share_dev.py RUN_DIR [RUN_DIR ...] [--shares 0,1.2,1.5]

Each RUN_DIR is a report directory of `bench/evaluate_gold.py` on a dev slice, as for
`bench/decision_dev.py`, made with every group's preferred label verified. For each share the sentences are
decided again, at the default threshold and group weight, as if only the labels their group gives at least
`share` times a chance share (1 / its options) had been verified; the contrast step verifies the inverse of
the new leader. The table gives micro-F1 and precision over the positive labels and the LLM calls a
sentence. No LLM call: an inverse the run did not verify (its leader was another label) is left out, and
the "missing" column counts them, so rows with many are approximate.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from decision_dev import load_run, results_table
from rich.console import Console

from mbre.graph.context import MbreContext
from mbre.graph.decision import best_group_labels, decide_label, leader
from mbre.inventory.inventory import Inventory
from mbre.schemas.results import Sample


def redecide(
    sample: Sample, inventory: Inventory, no_relation: str, share: float, ctx: MbreContext
) -> tuple[str | None, int, int]:
    """The label at `share`, the calls it took and the verdicts it would have needed but lacks."""
    decision = sample.decision
    recorded = {verdict.label: verdict for verdict in decision.verdicts}
    candidates = best_group_labels(decision.extractions, share)
    verdicts = [recorded[label] for label in candidates if label in recorded]
    missing = len(candidates) - len(verdicts)
    calls = len(decision.extractions) + len(candidates)
    best = leader("mbre", decision.extractions, verdicts, ctx.group_weight)
    inverse = inventory.schema.inverse_of(best) if best is not None else None
    if inverse is not None and inverse not in candidates:
        calls += 1
        if inverse in recorded:
            verdicts.append(recorded[inverse])
        else:
            missing += 1
    decided = decide_label(
        strategy="mbre",
        policy="calibrated",
        epsilon=ctx.epsilon,
        no_relation=no_relation,
        extractions=decision.extractions,
        verdicts=verdicts,
        threshold=ctx.threshold,
        group_weight=ctx.group_weight,
    )
    return decided.label, calls, missing


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument(
        "--shares",
        type=lambda text: [float(s) for s in text.split(",")],
        default=[0.0, 1.0, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8],
    )
    args = parser.parse_args()
    ctx = MbreContext()
    columns = ["run", "n", "share", "F1", "precision", "kept", "calls / sentence", "missing"]
    table = results_table(
        f"group answers verified at threshold {ctx.threshold:g}, group weight {ctx.group_weight:g}", columns
    )
    for run in args.runs:
        samples, inventory, no_relation = load_run(run)
        positives = sum(sample.gold != no_relation for sample in samples)
        for share in args.shares:
            right = kept = calls = missing = 0
            for sample in samples:
                label, sample_calls, sample_missing = redecide(sample, inventory, no_relation, share, ctx)
                calls += sample_calls
                missing += sample_missing
                if label is not None and label != no_relation:
                    kept += 1
                    right += label == sample.gold
            precision = right / kept if kept else 0.0
            recall = right / positives if positives else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            table.add_row(
                run.name,
                str(len(samples)),
                f"{share:g}",
                f"{f1:.3f}",
                f"{precision:.3f}",
                str(kept),
                f"{calls / len(samples):.2f}",
                str(missing),
            )
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
