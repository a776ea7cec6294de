"""M-BRe against its baselines on a fixed, seeded SemEval-2010 Task 8 slice, with the same model.

    python bench/evaluate_semeval.py --n 300 --seed 0 [--strategies mbre,multiclass,binary] [--model local]
                                     [--report-dir reports/semeval-n300-seed0]

Draws a seeded slice with random.Random(seed).sample, labels it with each strategy, prints the comparison
table and writes report.md, report.json and the charts to --report-dir. The runs there resume: after an
interruption the same command labels only what is left.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from mbre.cli.evaluate import print_evaluation
from mbre.evaluation.gold import load_gold
from mbre.evaluation.report import write_evaluation
from mbre.evaluation.strategies import Evaluation, check_strategies, evaluate
from mbre.graph.context import MbreContext
from mbre.inventory.inventory import Inventory
from mbre.llm.providers import chat_model_for
from mbre.run.config import load_context
from mbre.schemas.options import STRATEGIES, Strategy
from mbre.schemas.relations import RelationSchema

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "semeval2010_task8"


def run(
    data: Path,
    n: int,
    seed: int,
    strategies: list[Strategy],
    ctx: MbreContext,
    report_dir: Path,
    *,
    split: str = "test",
    concurrency: int = 4,
) -> Evaluation:
    relations, gold_file = data / "relations.json", data / f"{split}.jsonl"
    inventory = Inventory.build(RelationSchema.from_file(relations))
    gold = load_gold(gold_file, labels=inventory.schema.labels)
    chat_model_for(ctx, "extraction")  # start the server outside the timed runs
    chat_model_for(ctx, "verification")
    evaluation = evaluate(
        inventory,
        gold,
        strategies,
        ctx,
        report_dir,
        concurrency=concurrency,
        limit=n,
        seed=seed,
        files={"gold": gold_file, "relations": relations},
    )
    write_evaluation(evaluation, report_dir)
    print_evaluation(evaluation, Console(width=160))
    return evaluation


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA, help="SemEval folder (relations.json, test.jsonl)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--model", default="local")
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint for openai: models")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--report-dir", type=Path, default=None)
    args = parser.parse_args()

    report_dir = args.report_dir or Path("reports") / f"semeval-n{args.n}-seed{args.seed}"
    ctx = load_context(model=args.model, base_url=args.base_url)
    strategies = check_strategies(args.strategies.split(","))
    run(
        args.data,
        args.n,
        args.seed,
        strategies,
        ctx,
        report_dir,
        split=args.split,
        concurrency=args.concurrency,
    )
    Console().print(f"report written to {report_dir / 'report.md'}")


if __name__ == "__main__":
    main()
