"""Where should a confidence come from when the model returns no token probabilities? The sources side by
side on one seeded slice, with the embedded model:

    nice python bench/confidence_sources.py [--data ../shared/data/semeval2010_task8 --split train]
        [--n 100] [--sources logprobs,sampled:3,sampled:5,sampled:3:rotated,verbalized] [--model local]

Each source labels the same slice with M-BRe (calibrated decision, one example per relation drawn from the
train split and never from the slice) into `bench/results/confidence-DATA-SPLIT-nN-MODEL/SOURCE/`, through
`bench/evaluate_gold.py`'s run, so an interrupted run resumes with the same command (on a busy
machine, `MBRE_TIMEOUT=900` keeps the embedded server's queue from timing calls out). The table gives, per
source: micro-F1 and precision of the labels as decided (at the default threshold), precision and yield
at the thresholds where the precision-yield curve first reaches 0.5 and 0.7, the number of distinct
confidences (a constant one ranks nothing), and calls and tokens per sentence. The sampled sources run at
`confidence_temperature` 1.0, the options of a group question in one order (`sampled:K`) or rotated
from sample to sample (`sampled:K:rotated`, `confidence_order`). Then the chosen default against
`logprobs` on CrossRE dev:

    nice python bench/confidence_sources.py --data ../shared/data/crossre --split dev \
        --sources logprobs,sampled:3:rotated,sampled:3
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mbre.evaluation.curves import operating_point
from mbre.evaluation.strategies import Evaluation
from mbre.run.config import load_context
from mbre.schemas.results import Sample

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_gold import DATA, run  # the bench scripts run from their folder

RESULTS = Path(__file__).resolve().parent / "results"


def settings(source: str) -> dict[str, object]:
    """`logprobs`, `sampled:K` (the options of every sample in one order), `sampled:K:rotated` (each
    sample's rotated, `confidence_order`), `verbalized` or `none` as context settings."""
    kind, _, rest = source.partition(":")
    if not rest:
        return {"confidence": kind}
    k, _, order = rest.partition(":")
    return {"confidence": kind, "confidence_samples": int(k), "confidence_order": order or "same"}


def row(source: str, evaluation: Evaluation, samples: list[Sample]) -> list[str]:
    (arm,) = evaluation.strategies
    points = [operating_point(arm.curve, target) for target in (0.5, 0.7)]
    at = [f"{p.precision:.3f} @ {p.yield_share:.2f}" if p else "-" for p in points]
    cost = arm.cost
    return [
        source,
        f"{arm.micro.f1:.3f}",
        f"{arm.micro.precision:.3f}",
        *at,
        str(len({s.confidence for s in samples if s.confidence is not None})),
        f"{cost.calls_per_sentence:.1f}",
        f"{cost.prompt_tokens_per_sentence:,.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--split", default="train")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sources", default="logprobs,sampled:3,sampled:5,verbalized")
    parser.add_argument("--model", default="local")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    base = load_context(model=args.model, shots=1)
    table = Table(
        "source",
        "micro-F1",
        "precision",
        "precision @ yield (p>=0.5)",
        "precision @ yield (p>=0.7)",
        "distinct confidences",
        "calls/sentence",
        "prompt tokens/sentence",
        title=f"sources: {args.data.name} {args.split} n={args.n} seed {args.seed}, {args.model}",
    )
    for source in args.sources.split(","):
        ctx = dataclasses.replace(base, **settings(source))  # type: ignore[arg-type]
        name = f"confidence-{args.data.name}-{args.split}-n{args.n}-{args.model.replace(':', '-')}"
        report_dir = RESULTS / name / source.replace(":", "-")
        evaluation = run(
            args.data,
            args.n,
            args.seed,
            ["mbre"],
            ctx,
            report_dir,
            split=args.split,
            examples=1,
            concurrency=args.concurrency,
        )
        samples = [
            Sample.model_validate_json(line) for line in (report_dir / "mbre" / "samples.jsonl").open()
        ]
        table.add_row(*row(source, evaluation, samples))
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
