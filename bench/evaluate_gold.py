"""M-BRe against its baselines on a fixed, seeded slice of a gold set (SemEval by default), one model.

    python bench/evaluate_gold.py --n 300 --seed 0 [--data ../shared/data/crossre] [--split test]
        [--strategies mbre,mbre:paper,multiclass,binary] [--examples 1] [--model local]
        [--relations FILE] [--report-dir reports/semeval-n300-seed0]

Draws a seeded slice with random.Random(seed).sample, labels it with each strategy, prints the comparison
table and writes report.md, report.json and the charts to --report-dir. With --examples K, K examples per
relation are drawn (seed 0) from the data's train split, never from the slice, and shown in the prompts as
`mbre evaluate --seeds` shows them; the seeds file is written beside the report. --relations takes the
schema from another file, such as one whose examples `mbre examples` wrote. The runs resume: after an
interruption the same command labels only what is left.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from mbre.cli.evaluate import DEFAULT_ARMS, print_evaluation
from mbre.errors import MbreError
from mbre.evaluation.gold import load_gold, select_slice
from mbre.evaluation.report import write_evaluation
from mbre.evaluation.strategies import Evaluation, evaluate
from mbre.files import mask
from mbre.graph.context import MbreContext
from mbre.inventory.inventory import Inventory
from mbre.llm.providers import chat_model_for
from mbre.run.config import load_context
from mbre.schemas.instances import Instance, read_instances
from mbre.schemas.options import parse_arms
from mbre.schemas.relations import RelationSchema

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "semeval2010_task8"


def draw_examples(
    pool: Sequence[Instance], schema: RelationSchema, k: int, avoid: set[str]
) -> list[Instance]:
    """`k` sentences per positive relation, drawn with seed 0 from `pool`, none of them in `avoid`."""
    rng = random.Random(0)
    examples = []
    for relation in schema.positive:
        candidates = [i for i in pool if i.relation == relation.label and i.id not in avoid]
        examples += rng.sample(candidates, min(k, len(candidates)))
    return examples


def run(
    data: Path,
    n: int,
    seed: int,
    strategies: list[str],
    ctx: MbreContext,
    report_dir: Path,
    *,
    split: str = "test",
    examples: int = 0,
    concurrency: int = 4,
    relations: Path | None = None,
) -> Evaluation:
    relations, gold_file = relations or data / "relations.json", data / f"{split}.jsonl"
    schema = RelationSchema.from_file(relations)
    gold = load_gold(gold_file, labels=schema.labels)
    files = {"gold": gold_file, "relations": relations}
    seeds: list[Instance] = []
    if examples:
        chosen = {instance.id for instance in select_slice(gold, n, seed)}
        seeds = draw_examples(read_instances(data / "train.jsonl"), schema, examples, chosen)
        report_dir.mkdir(parents=True, exist_ok=True)
        files["seeds"] = report_dir / "seeds.jsonl"
        files["seeds"].write_text("".join(seed.model_dump_json() + "\n" for seed in seeds))
    inventory = Inventory.build(schema, seeds=seeds)
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
        files=files,
    )
    write_evaluation(evaluation, report_dir)
    print_evaluation(evaluation, Console(width=200))
    return evaluation


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA, help="folder with relations.json and the splits")
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", default=DEFAULT_ARMS)
    parser.add_argument("--examples", type=int, default=0, help="examples per relation from train.jsonl")
    parser.add_argument(
        "--relations", type=Path, default=None, help="another schema file (one `mbre examples` wrote, say)"
    )
    parser.add_argument("--model", default="local")
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint for openai: models")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--report-dir", type=Path, default=None)
    args = parser.parse_args()

    name = f"{args.data.name}-{args.split}-n{args.n}-seed{args.seed}-examples{args.examples}"
    report_dir = args.report_dir or Path("reports") / name
    try:
        ctx = load_context(model=args.model, base_url=args.base_url, shots=max(args.examples, 1))
        strategies = [arm.name for arm in parse_arms(args.strategies)]
        run(
            args.data,
            args.n,
            args.seed,
            strategies,
            ctx,
            report_dir,
            split=args.split,
            examples=args.examples,
            concurrency=args.concurrency,
            relations=args.relations,
        )
    except MbreError as error:  # one line, as the mbre commands say it (Ctrl-C: the same command resumes)
        Console(stderr=True).print(mask(str(error)), soft_wrap=True)
        raise SystemExit(error.exit_code) from error
    Console().print(f"report written to {report_dir / 'report.md'}")


if __name__ == "__main__":
    main()
