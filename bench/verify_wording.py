"""How well the verifier tells a true statement from a role-swapped or an unrelated one, raw and calibrated.

    python bench/verify_wording.py [--n 50] [--seed 3] [--model local] [--data ../shared/data/crossre]

Each of n gold-labelled *train* sentences with a relation is checked against its gold label, the label's
inverse (head and tail swapped, from the schema: `inverse` or a shared `name`) when the schema has one,
and a label drawn from the others, with the shipped yes/no prompt. For each kind of statement: how often
the answer is yes, and the mean P(yes), raw and with the content-free prior divided out
(`mbre.graph.calibration`). The AUC says how well P(yes) ranks the true statement above each other kind:
0.5 is chance. This is the probe that chose calibrated P(yes) over counting yeses.
"""

from __future__ import annotations

import argparse
import random
import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mbre.graph.calibration import divide_out_yes, yes_prior
from mbre.graph.questions import ask_verification
from mbre.inventory.inventory import Inventory
from mbre.run.config import load_context
from mbre.schemas.instances import Instance, read_instances
from mbre.schemas.relations import RelationSchema

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "semeval2010_task8"
KINDS = ("gold", "inverse", "other")


def auc(positives: list[float], negatives: list[float]) -> float:
    """The chance that a random positive scores above a random negative (ties count half)."""
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    return sum(pairs) / len(pairs) if pairs else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--model", default="local")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()

    schema = RelationSchema.from_file(args.data / "relations.json")
    inventory = Inventory.build(schema)
    ctx = load_context(model=args.model)
    rng = random.Random(args.seed)
    pool = [i for i in read_instances(args.data / "train.jsonl") if i.relation != schema.no_relation_label]
    checks: list[tuple[Instance, str, str]] = []
    for instance in rng.sample(pool, args.n):
        assert instance.relation is not None
        inverse = schema.inverse_of(instance.relation)
        others = [r.label for r in schema.positive if r.label not in (instance.relation, inverse)]
        checks.append((instance, instance.relation, "gold"))
        if inverse is not None:
            checks.append((instance, inverse, "inverse"))
        checks.append((instance, rng.choice(others), "other"))

    def p_yes(check: tuple[Instance, str, str]) -> tuple[str, float, float, bool] | None:
        instance, label, kind = check
        answer = ask_verification(inventory, ctx, label, instance)
        if answer.parsed is None or answer.parsed.probabilities is None:
            return None
        raw = answer.parsed.probabilities[0]
        prior = yes_prior(inventory, ctx, label)
        return kind, raw, raw if prior is None else divide_out_yes(raw, prior), answer.parsed.index == 0

    with ThreadPoolExecutor(4) as workers:
        answers = [a for a in workers.map(p_yes, checks) if a is not None]
    raw = {kind: [a[1] for a in answers if a[0] == kind] for kind in KINDS}
    calibrated = {kind: [a[2] for a in answers if a[0] == kind] for kind in KINDS}
    said_yes = {kind: sum(a[3] for a in answers if a[0] == kind) for kind in KINDS}

    table = Table(title=f"the verifier on {args.n} {args.data.name} train sentences ({args.model})")
    table.add_column("statement")
    for column in ("asked", "said yes", "mean P(yes)", "calibrated", "AUC vs gold", "calibrated"):
        table.add_column(column, justify="right")
    for kind in KINDS:
        if not raw[kind]:
            continue
        row = [kind, str(len(raw[kind])), str(said_yes[kind])]
        row += [f"{statistics.fmean(raw[kind]):.3f}", f"{statistics.fmean(calibrated[kind]):.3f}"]
        if kind == "gold":
            row += ["", ""]
        else:
            row += [f"{auc(raw['gold'], raw[kind]):.3f}", f"{auc(calibrated['gold'], calibrated[kind]):.3f}"]
        table.add_row(*row)
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
