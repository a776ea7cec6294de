"""From an entity-annotated corpus to candidate pairs, measured on CrossRE (figures in docs/pairs.md).

    python bench/pairs.py types [--data ../shared/data/crossre]
    python bench/pairs.py e2e [--n 40] [--seed 0] [--model local] [--pairs N] [--out DIR]
    python bench/pairs.py report [--n 40] [--seed 0] [--out DIR]

`types` derives head_types / tail_types from the train split's annotated relations (`mbre types`), makes
the dev split's candidate pairs (`mbre pairs`) and prints the pairs before and after the type constraints
and the share of gold related pairs kept; no LLM.

`e2e` draws n dev sentences (random.Random(seed)), makes their pairs under the train-derived types, and
labels them with `discover` on the model twice, with and without type-narrowed options, one example per
relation from the train split. It takes the pairs in draw order, four at a time, both arms in turn, into
two run directories under --out (bench/results/pairs-crossre-dev-n40-seed0 by default): it resumes where
it stopped, and a run cut short compares the arms on the same pairs; `--pairs N` stops after the first N.
It prints micro-F1 over the pairs both arms labelled (a pair not in the gold is no relation), LLM calls
and prompt tokens per pair, and the calibration calls (content-free questions, once per distinct
question and process: narrowed questions are more distinct questions). `report` prints that table from
what is labelled, without a model.
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
ARMS = {"narrowed": True, "all-options": False}
#: Pairs labelled by one arm before the other takes them: a run cut short compares the same pairs.
CHUNK = 4
#: Seconds a request may take before it is retried (the default 120 gave up on a machine at load 16).
TIMEOUT = 900.0
#: The bench's own record of each arm's calibration calls, which no sample carries.
CALIBRATION = "calibration.jsonl"
SPENT = {"calls", "prompt_tokens"}
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


def e2e(data: Path, n: int, seed: int, model: str, out: Path, limit: int | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    schema = typed_schema(data, out / "relations.typed.json")
    documents = random.Random(seed).sample(read_documents(data / "entities" / "dev.jsonl"), n)
    pairs_file = out / "pairs.jsonl"
    lines = list(make_pairs(documents, schema, source="dev"))
    pairs_file.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    pairs = read_instances(pairs_file)[:limit]
    seeds = draw_examples(read_instances(data / "train.jsonl"), schema, 1, set())
    inventory = Inventory.build(schema, seeds=seeds)
    # A shared, loaded machine answers slowly: wait for an answer rather than give a pair up.
    base = load_context(model=model, shots=1, timeout=TIMEOUT)
    chat_model_for(base, "extraction")  # the server starts outside the runs
    for start in range(0, len(pairs), CHUNK):
        chunk = pairs[start : start + CHUNK]
        for arm, narrow in ARMS.items():
            ctx = dataclasses.replace(base, narrow_by_type=narrow)
            summary = discover(
                inventory, chunk, ctx, out / arm, input_file=pairs_file, concurrency=1, retry_failed=True
            )
            if summary.calibration.calls:  # content-free questions, asked once per question and process
                record = {"from": chunk[0].id, **summary.calibration.model_dump(include=SPENT)}
                with (out / arm / CALIBRATION).open("a") as file:
                    file.write(json.dumps(record) + "\n")
    report(documents, schema, out)


def report(documents: list[Document], schema: RelationSchema, out: Path) -> None:
    files = {arm: out / arm / "samples.jsonl" for arm in ARMS}
    samples = {arm: {s.id: s for s in read_samples(f)} if f.exists() else {} for arm, f in files.items()}
    gold = gold_pairs(documents, schema.no_relation_label)
    both = [k for k in gold if all(k in samples[arm] for arm in ARMS)]
    positives = sum(gold[k] != schema.no_relation_label for k in both)
    table = Table(
        title=f"{len(both)} pairs labelled by both arms ({positives} gold related), of {len(gold)} ordered "
        f"pairs in {len(documents)} CrossRE dev sentences"
    )
    headers = ("arm", "micro-P", "micro-R", "micro-F1", "LLM calls / pair", "prompt tokens / pair")
    for header in (*headers, "calibration calls"):
        table.add_column(header, justify="left" if header == "arm" else "right")
    for arm in ARMS:
        pred = [samples[arm][k].relation for k in both]
        scores = prf([gold[k] for k in both], pred, no_relation=schema.no_relation_label).micro
        usage = [samples[arm][k].decision.usage for k in both]
        record = out / arm / CALIBRATION
        spent = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
        n = max(len(both), 1)
        table.add_row(
            arm,
            f"{scores.precision:.3f}",
            f"{scores.recall:.3f}",
            f"{scores.f1:.3f}",
            f"{sum(u.calls for u in usage) / n:.2f}",
            f"{sum(u.prompt_tokens for u in usage) / n:.0f}",
            str(sum(entry["calls"] for entry in spent)),
        )
    console.print(table)
    offered = Counter(len(samples["narrowed"][k].decision.offered or []) for k in both)
    console.print(f"narrowed arm, relations offered per pair: {dict(sorted(offered.items()))}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("part", choices=["types", "e2e", "report"])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="local")
    parser.add_argument("--pairs", type=int, default=None, help="stop after the first N pairs of the draw")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(__file__).parent / "results" / f"pairs-crossre-dev-n{args.n}-seed{args.seed}"
    if args.part == "types":
        types_report(args.data)
    elif args.part == "e2e":
        e2e(args.data, args.n, args.seed, args.model, out, args.pairs)
    else:
        documents = random.Random(args.seed).sample(
            read_documents(args.data / "entities" / "dev.jsonl"), args.n
        )
        report(documents, RelationSchema.from_file(out / "relations.typed.json"), out)


if __name__ == "__main__":
    main()
