"""Prompt tokens as `mbre plan` counts them, against what the model's server reports, on SemEval sentences.

    python bench/plan_tokens.py [--n 30] [--seed 0] [--examples 1] [--verify 2] [--model local]
        [--base-url URL] [--data ../shared/data/semeval2010_task8] [--concurrency 2]

Draws n test sentences (random.Random(seed).sample) and renders, as `mbre plan` and the graph do, the
prompts sent about each: every group's multiple-choice question, the one offering every label (the
too-long check's), and --verify yes/no questions (the gold label's when it is a relation, then others
drawn with the seed), with --examples demonstrations per relation drawn (seed 0) from the train split.
Each prompt is counted by the model's token counter (`mbre.llm.tokens`) and by the old estimate (4
characters a token), then sent to the model with max_tokens=1 and the LLM-call cache off, and the
prompt_tokens the server reports are read. The table gives, per kind of prompt and in all, the tokens
counted and reported and their ratio, for the counter and for the estimate.
"""

from __future__ import annotations

import argparse
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from evaluate_gold import draw_examples
from langchain_core.messages import BaseMessage
from rich.console import Console
from rich.table import Table

from mbre.inventory.inventory import ALL_LABELS, Inventory
from mbre.llm.providers import chat_model_for
from mbre.llm.tokens import chat_turns, estimate, token_counter
from mbre.prompts.render import extraction_messages, verification_messages
from mbre.run.config import load_context
from mbre.schemas.instances import Instance, read_instances
from mbre.schemas.options import Role
from mbre.schemas.relations import RelationSchema

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "semeval2010_task8"
KINDS = ("extraction: a group", "every label: the too-long check", "verification")


@dataclass
class Prompt:
    kind: str
    role: Role
    messages: list[BaseMessage]
    counted: int = 0
    estimated: int = 0
    reported: int = 0


def prompts_about(
    inventory: Inventory, instance: Instance, shots: int, verify: int, rng: random.Random
) -> list[Prompt]:
    """The prompts the graph sends about `instance`, rendered as `mbre.run.plan` renders them."""
    schema, demos = inventory.schema, inventory.demonstrations
    found = []
    for group in inventory.groups_to_ask(instance, "mbre", None).groups:
        labels = inventory.asked_labels(group)
        messages = extraction_messages(schema, labels, instance, demos.for_labels(labels, instance, shots))
        found.append(Prompt(KINDS[0], "extraction", messages))
    every = inventory.asked_labels(ALL_LABELS)
    found.append(Prompt(KINDS[1], "extraction", extraction_messages(schema, every, instance)))
    positive = [r.label for r in schema.positive]
    gold = [instance.relation] if instance.relation in positive else []
    others = rng.sample([label for label in positive if label not in gold], verify)
    for label in (gold + others)[:verify]:
        messages = verification_messages(schema, label, instance, demos.for_labels([label], instance, shots))
        found.append(Prompt(KINDS[2], "verification", messages))
    return found


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "-"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA, help="folder with relations.json and the splits")
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=int, default=1, help="examples per relation from train.jsonl")
    parser.add_argument("--verify", type=int, default=2, help="yes/no prompts per sentence")
    parser.add_argument("--model", default="local")
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint for openai: models")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    console = Console() if Console().is_terminal else Console(width=200)
    schema = RelationSchema.from_file(args.data / "relations.json")
    sentences = random.Random(args.seed).sample(read_instances(args.data / "test.jsonl"), args.n)
    chosen = {instance.id for instance in sentences}
    seeds = draw_examples(read_instances(args.data / "train.jsonl"), schema, args.examples, chosen)
    inventory = Inventory.build(schema, seeds=seeds)
    shots = max(args.examples, 1)
    ctx = load_context(model=args.model, base_url=args.base_url, cache=False, shots=shots)
    rng = random.Random(args.seed)
    prompts = [p for i in sentences for p in prompts_about(inventory, i, shots, args.verify, rng)]

    counters = {role: token_counter(ctx, role) for role in ("extraction", "verification")}
    with console.status("starting the model's server ..."):
        chat_model_for(ctx, "extraction")  # started outside the timed counting
    started = time.perf_counter()
    for prompt in prompts:
        prompt.counted = counters[prompt.role].count(prompt.messages)
        prompt.estimated = estimate(chat_turns(prompt.messages))
    counting = time.perf_counter() - started
    started = time.perf_counter()
    for prompt in prompts:
        counters[prompt.role].count(prompt.messages)
    again = time.perf_counter() - started

    def report(prompt: Prompt) -> None:
        answer = chat_model_for(ctx, prompt.role).invoke(prompt.messages, max_tokens=1)
        prompt.reported = answer.usage_metadata["input_tokens"] if answer.usage_metadata else 0

    asking = console.status(f"asking the model {len(prompts)} one-token completions ...")
    with asking, ThreadPoolExecutor(args.concurrency) as workers:
        list(workers.map(report, prompts))

    methods = sorted({counter.method for counter in counters.values()})
    title = (
        f"prompt tokens of {len(prompts)} prompts about {args.n} SemEval test sentences (seed {args.seed}, "
        f"{args.examples} example(s) per relation), {args.model}: counter {' / '.join(methods)}"
    )
    table = Table(title=title)
    for header in ("prompts", "kind", "reported", "counted", "counted / reported", "exact"):
        table.add_column(header, justify="left" if header == "kind" else "right")
    table.add_column("4-chars estimate", justify="right")
    table.add_column("estimate / reported", justify="right")
    table.add_column("estimate, per prompt", justify="right")
    for kind in (*KINDS, "all"):
        rows = [p for p in prompts if kind in (p.kind, "all")]
        reported = sum(p.reported for p in rows)
        counted = sum(p.counted for p in rows)
        estimated = sum(p.estimated for p in rows)
        each = [p.estimated / p.reported for p in rows if p.reported]
        table.add_row(
            str(len(rows)),
            kind,
            f"{reported:,}",
            f"{counted:,}",
            _ratio(counted, reported),
            f"{sum(p.counted == p.reported for p in rows)}/{len(rows)}",
            f"{estimated:,}",
            _ratio(estimated, reported),
            f"{min(each):.2f} .. {max(each):.2f}" if each else "-",
        )
    console.print(table)
    console.print(
        f"counting: {len(prompts)} distinct prompts in {counting:.2f} s "
        f"({1000 * counting / max(len(prompts), 1):.1f} ms each); again, from the cache, in {again:.3f} s"
    )
    for role, counter in counters.items():
        if counter.fallback is not None:
            console.print(f"{role}: the counter estimated ({counter.fallback})")


if __name__ == "__main__":
    main()
