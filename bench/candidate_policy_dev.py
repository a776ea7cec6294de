"""Which labels should M-BRe verify, and when should its verification loop stop? Replayed exactly on dev runs:

    python bench/candidate_policy_dev.py RUN_DIR [RUN_DIR ...] [--extras 0,1,2,3,4] [--tops 2,3,4,5]

Each RUN_DIR is a report directory of `bench/evaluate_gold.py` on a dev slice holding both an `mbre` and a
`binary` run of the same sentences (`--strategies mbre,binary`, one LLM-call cache). Binary-only verified
every label with the same verifier prompt, so any set of M-BRe candidates can be decided again with real
verdicts, and no LLM call.

Each row is a policy: verify the groups' preferred labels that pass `candidate_share` (the default's
first round), then, while no score reaches the threshold, up to `extra` more labels in the order of their
groups' preference (probability times options), as the graph does at `extra_verifications=extra`, and
before deciding the leader's inverse (`check_inverse`); or, instead of the first round, the `top` labels
the groups prefer most. The table gives micro-F1, precision and recall over the positive
labels, the LLM calls a sentence, and the share of binary-only's calls.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from decision_dev import load_run, results_table
from rich.console import Console

from mbre.evaluation.metrics import prf
from mbre.graph.context import MbreContext
from mbre.graph.decision import best_group_labels, decide_label, leader, preferred_labels, undecided
from mbre.inventory.inventory import Inventory
from mbre.schemas.results import Sample, Verdict


def replay(
    sample: Sample,
    verdicts_of: dict[str, Verdict],
    inventory: Inventory,
    no_relation: str,
    extra: int,
    ctx: MbreContext,
    top: int | None = None,
) -> tuple[str | None, int]:
    """The label under the policy and the LLM calls it took. `top`: the first round verifies the `top`
    most preferred labels over all groups instead of each group's preferred one that passes the share."""
    extractions = list(sample.decision.extractions)
    if top is None:
        first = best_group_labels(extractions, ctx.candidate_share)
    else:
        first = preferred_labels(extractions)[:top]
    queue = [label for label in preferred_labels(extractions) if label not in first]
    verified: list[str] = []

    def verify(label: str) -> None:
        if label not in verified and label in verdicts_of:
            verified.append(label)

    for label in first:
        verify(label)
    extras = 0
    while extras < extra and queue:  # as the graph's widen node does (`extra_verifications`)
        verdicts = [verdicts_of[label] for label in verified]
        if not undecided("mbre", extractions, verdicts, ctx.threshold, {}, ctx.group_weight):
            break
        verify(queue.pop(0))
        extras += 1
    best = leader("mbre", extractions, [verdicts_of[label] for label in verified], ctx.group_weight)
    inverse = inventory.schema.inverse_of(best) if best is not None else None
    if ctx.check_inverse and inverse is not None:
        verify(inverse)
    decided = decide_label(
        strategy="mbre",
        policy="calibrated",
        epsilon=ctx.epsilon,
        no_relation=no_relation,
        extractions=extractions,
        verdicts=[verdicts_of[label] for label in verified],
        threshold=ctx.threshold,
        group_weight=ctx.group_weight,
    )
    return decided.label, len(extractions) + len(verified)


def policies(
    samples: list[Sample],
    binary: dict[str, Sample],
    inventory: Inventory,
    no_relation: str,
    extras: list[int],
    tops: list[int],
    ctx: MbreContext,
) -> list[tuple[str, list[str | None], float]]:
    """Each policy's name, labels and LLM calls a sentence; the recorded runs first."""
    n = len(samples)
    rows: list[tuple[str, list[str | None], float]] = [
        (
            "binary-only (recorded)",
            [binary[s.id].relation for s in samples],
            sum(binary[s.id].decision.usage.calls for s in samples) / n,
        ),
        ("mbre (recorded)", [s.relation for s in samples], sum(s.decision.usage.calls for s in samples) / n),
    ]
    verdicts = {s.id: {v.label: v for v in binary[s.id].decision.verdicts} for s in samples}
    variants: list[tuple[str, int, int | None]] = [
        (f"mbre, up to {extra} more while below threshold", extra, None) for extra in extras
    ]
    variants += [(f"mbre, the {top} most preferred labels", 0, top) for top in tops]
    for name, extra, top in variants:
        results = [replay(s, verdicts[s.id], inventory, no_relation, extra, ctx, top) for s in samples]
        rows.append((name, [label for label, _ in results], sum(calls for _, calls in results) / n))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", type=Path, nargs="+")
    numbers = lambda text: [int(s) for s in text.split(",")]  # noqa: E731
    parser.add_argument("--extras", type=numbers, default=[0, 1, 2, 3, 4])
    parser.add_argument("--tops", type=numbers, default=[2, 3, 4, 5])
    args = parser.parse_args()
    ctx = MbreContext()
    columns = ["run", "n", "policy", "F1", "precision", "recall", "calls / sentence", "of binary's"]
    table = results_table(
        f"threshold {ctx.threshold:g}, group weight {ctx.group_weight:g}, share {ctx.candidate_share:g}",
        columns,
    )
    for run in args.runs:
        samples, inventory, no_relation = load_run(run)
        lines = (run / "binary" / "samples.jsonl").open()
        binary = {s.id: s for s in (Sample.model_validate_json(line) for line in lines)}
        samples = [sample for sample in samples if sample.id in binary]
        gold = [sample.gold for sample in samples if sample.gold is not None]
        if len(gold) != len(samples):
            parser.error(f"{run}: every sample needs its gold label (a run of bench/evaluate_gold.py)")
        rows = policies(samples, binary, inventory, no_relation, args.extras, args.tops, ctx)
        binary_calls = rows[0][2]
        for name, labels, calls in rows:
            scores = prf(gold, labels, no_relation=no_relation).micro
            table.add_row(
                run.name,
                str(len(samples)),
                name,
                f"{scores.f1:.3f}",
                f"{scores.precision:.3f}",
                f"{scores.recall:.3f}",
                f"{calls:.2f}",
                f"{calls / binary_calls:.0%}",
            )
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
