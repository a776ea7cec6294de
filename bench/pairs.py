"""From an entity-annotated corpus to candidate pairs, measured on CrossRE (figures in docs/pairs.md).

    python bench/pairs.py types [--data ../shared/data/crossre]
    python bench/pairs.py e2e [--n 40] [--seed 0] [--model local] [--sentences N] [--out DIR]

`types` derives head_types / tail_types from the train split's annotated relations (`mbre types`), makes
the dev split's candidate pairs (`mbre pairs`) and prints the pairs before and after the type constraints
and the share of gold related pairs kept; no LLM.

`e2e` draws n dev sentences (random.Random(seed)), makes their pairs under the train-derived types, and
labels them with `discover` on the model twice, with and without type-narrowed options, one example per
relation from the train split. It labels sentence by sentence, both arms in turn, into two run
directories under --out (bench/results/pairs-crossre-dev-n40-seed0 by default), so it resumes where it
stopped and a cut-short run compares the arms on the same sentences; `--sentences N` stops after the first
N of the draw. It prints micro-F1 over every ordered pair of the labelled sentences (a pair not in the
gold, or dropped by the types, is no relation), and LLM calls and prompt tokens per sentence.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import tempfile
from collections import Counter
from pathlib import Path

from evaluate_gold import draw_examples  # bench/ is on sys.path when run as a script
from rich.console import Console
from rich.table import Table

from mbre.evaluation.metrics import prf
from mbre.inventory.inventory import Inventory
from mbre.llm.providers import chat_model_for
from mbre.pairs.candidates import PairCounts, make_pairs
from mbre.pairs.constraints import observe, write_typed_schema
from mbre.pairs.documents import Document, read_documents
from mbre.run.config import load_context
from mbre.run.discover import discover
from mbre.run.rundir import read_samples
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "crossre"
console = Console(width=140)


def typed_schema(data: Path, out: Path, min_count: int = 1) -> RelationSchema:
    """The inventory with the types its train split's relations had (as `mbre types` writes it)."""
    schema = RelationSchema.from_file(data / "relations.json")
    observed = observe(data / "entities" / "train.jsonl")
    write_typed_schema(data / "relations.json", schema, observed, out, min_count=min_count)
    return RelationSchema.from_file(out)


def gold_pairs(documents: list[Document], no_relation: str) -> dict[str, str]:
    """Pair id -> gold label of every ordered pair of two disjoint entities; None-free: multi-label pairs
    take their first label (CrossRE has few)."""
    gold = {}
    for document in documents:
        annotated = {(r.head, r.tail): r.labels[0] for r in document.relations or ()}
        entities = document.entities or ()
        for i, head in enumerate(entities):
            for j, tail in enumerate(entities):
                if i != j and (head.end <= tail.start or tail.end <= head.start):
                    gold[f"{document.id}:{i}-{j}"] = annotated.get((i, j), no_relation)
    return gold


def types_report(data: Path) -> None:
    documents = read_documents(data / "entities" / "dev.jsonl")
    table = Table(title="CrossRE dev: candidate pairs under the types of CrossRE train")
    headers = ("domain", "min count", "sentences", "pairs before", "pairs after", "kept", "offered / pair")
    for header in (*headers, "gold related", "gold kept"):
        table.add_column(header, justify="left" if header == "domain" else "right")
    domains = sorted({str(d.extra.get("domain")) for d in documents})
    runs = [(domain, 1) for domain in [*domains, "all"]] + [("all", 2)]
    for domain, min_count in runs:
        with tempfile.TemporaryDirectory() as directory:
            schema = typed_schema(data, Path(directory) / "relations.typed.json", min_count)
        chosen = [d for d in documents if domain == "all" or d.extra.get("domain") == domain]
        counts = PairCounts()
        lines = list(make_pairs(chosen, schema, source="dev", counts=counts))
        kept = {line["id"] for line in lines}
        offered = sum(len(schema.fitting(line["head"]["type"], line["tail"]["type"]) or []) for line in lines)
        no_relation = schema.no_relation_label
        gold = [k for k, v in gold_pairs(chosen, no_relation).items() if v != no_relation]
        after = counts.pairs - counts.typed_out
        table.add_row(
            domain,
            str(min_count),
            str(counts.sentences),
            str(counts.pairs),
            str(after),
            f"{after / counts.pairs:.1%}",
            f"{offered / max(after, 1):.1f} of {len(schema.positive)}",
            str(len(gold)),
            f"{sum(k in kept for k in gold) / len(gold):.1%}",
        )
    console.print(table)


def e2e(data: Path, n: int, seed: int, model: str, out: Path, sentences: int | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    schema = typed_schema(data, out / "relations.typed.json")
    documents = random.Random(seed).sample(read_documents(data / "entities" / "dev.jsonl"), n)
    pairs_file = out / "pairs.jsonl"
    lines = list(make_pairs(documents, schema, source="dev"))
    pairs_file.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    pairs = read_instances(pairs_file)
    seeds = draw_examples(read_instances(data / "train.jsonl"), schema, 1, set())
    inventory = Inventory.build(schema, seeds=seeds)
    base = load_context(model=model, shots=1)
    chat_model_for(base, "extraction")  # the server starts outside the runs
    arms = {"narrowed": True, "all-options": False}
    todo = documents[:sentences] if sentences else documents
    for document in todo:
        chunk = [p for p in pairs if p.extra["source"]["id"] == document.id]
        for arm, narrow in arms.items():
            ctx = dataclasses.replace(base, narrow_by_type=narrow)
            discover(inventory, chunk, ctx, out / arm, input_file=pairs_file, concurrency=2)
    report(documents, schema, out, list(arms))


def report(documents: list[Document], schema: RelationSchema, out: Path, arms: list[str]) -> None:
    samples = {arm: {s.id: s for s in read_samples(out / arm / "samples.jsonl")} for arm in arms}
    pair_ids = {p.id: p.extra["source"]["id"] for p in read_instances(out / "pairs.jsonl")}
    labelled = [
        d
        for d in documents
        if all(all(s in samples[a] for s, doc in pair_ids.items() if doc == d.id) for a in arms)
    ]
    gold = gold_pairs(labelled, schema.no_relation_label)
    table = Table(
        title=f"{len(labelled)} CrossRE dev sentences labelled, {len(gold)} ordered pairs "
        f"({len(pair_ids)} of the whole draw after the types)"
    )
    for header in (
        "arm",
        "micro-P",
        "micro-R",
        "micro-F1",
        "LLM calls / sentence",
        "prompt tokens / sentence",
    ):
        table.add_column(header, justify="left" if header == "arm" else "right")
    for arm in arms:
        predicted = {k: (s.relation if s.relation is not None else None) for k, s in samples[arm].items()}
        pred = [predicted.get(k, schema.no_relation_label) for k in gold]
        scores = prf(list(gold.values()), pred, no_relation=schema.no_relation_label).micro
        chosen = [s for k, s in samples[arm].items() if k in gold]
        calls = sum(s.decision.usage.calls for s in chosen)
        tokens = sum(s.decision.usage.prompt_tokens for s in chosen)
        n = max(len(labelled), 1)
        table.add_row(
            arm,
            f"{scores.precision:.3f}",
            f"{scores.recall:.3f}",
            f"{scores.f1:.3f}",
            f"{calls / n:.1f}",
            f"{tokens / n:.0f}",
        )
    console.print(table)
    offered = Counter(len(s.decision.offered or []) for s in samples[arms[0]].values())
    console.print(f"narrowed arm, relations offered per pair: {dict(sorted(offered.items()))}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("part", choices=["types", "e2e"])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="local")
    parser.add_argument("--sentences", type=int, default=None, help="stop after the first N of the draw")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.part == "types":
        types_report(args.data)
    else:
        out = args.out or Path(__file__).parent / "results" / f"pairs-crossre-dev-n{args.n}-seed{args.seed}"
        e2e(args.data, args.n, args.seed, args.model, out, args.sentences)


if __name__ == "__main__":
    main()
