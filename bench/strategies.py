"""Cost of M-BRe against its baselines on a seeded SemEval-2010 Task 8 slice, with the same model.

    python bench/strategies.py --n 50 --seed 0 --strategies mbre,multiclass,binary [--model local]

Prints, per strategy: LLM calls, tokens and wall seconds per sentence, and accuracy against the gold
labels (a first look; the evaluation command measures quality properly).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mbre.config import load_context
from mbre.discover import discover
from mbre.inventory import Inventory
from mbre.schemas import RelationSchema, read_instances

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "semeval2010_task8"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA, help="SemEval folder (relations.json, test.jsonl)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", default="mbre,multiclass,binary")
    parser.add_argument("--model", default="local")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--out-dir", type=Path, default=None, help="keep a run directory per strategy here")
    args = parser.parse_args()

    inventory = Inventory.build(RelationSchema.from_file(args.data / "relations.json"))
    instances = read_instances(args.data / f"{args.split}.jsonl")
    sample = random.Random(args.seed).sample(instances, args.n)
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="mbre-bench-"))
    out_dir.mkdir(parents=True, exist_ok=True)

    table = Table(title=f"{args.n} SemEval {args.split} sentences (seed {args.seed}), model {args.model}")
    for column in (
        "strategy",
        "calls/sent",
        "prompt tok/sent",
        "compl tok/sent",
        "s/sent",
        "accuracy",
        "abstained",
    ):
        table.add_column(column, justify="right")
    for strategy in args.strategies.split(","):
        ctx = load_context(model=args.model, strategy=strategy)
        ctx.llm("extraction")  # start the server outside the timed run
        run_dir = out_dir / strategy
        summary = discover(inventory, sample, ctx, run_dir, fresh=True, concurrency=args.concurrency)
        samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
        correct = sum(s["relation"] == s["gold"] for s in samples)
        n = max(summary.sentences, 1)
        table.add_row(
            strategy,
            f"{summary.usage.calls / n:.2f}",
            f"{summary.usage.prompt_tokens / n:.0f}",
            f"{summary.usage.completion_tokens / n:.0f}",
            f"{summary.seconds / n:.2f}",
            f"{correct / n:.2%}",
            str(summary.abstained),
        )
        Console().print(f"{strategy}: done, samples in {run_dir}")
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
