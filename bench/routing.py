"""Can routing ask fewer groups without losing the gold label? Retrieval representations side by side,
without a model call:

    python bench/routing.py [--data ../shared/data/semeval2010_task8 --split train] [--n 300] [--seed 0]
    python bench/routing.py --data ../shared/data/crossre --split dev --n 200

For each of n seeded sentences of the split whose gold label is a relation (not no-relation), the positive
relations are ranked by similarity to the sentence, and `route_top_k = k` asks only the groups that hold
the k nearest (`RelationIndex.route`). The table gives, per representation and k, the groups asked a
sentence and the share of sentences whose gold label's group is among them (its "group recall": a group
not asked can never propose the label). One example per relation is drawn from the train split (never one
of the n), as the runs of record draw it. Representations:

- `chance`: the relations in a random order (seeded): what a ranking that knows nothing gets;
- `tfidf`: mbre's index today (TF-IDF of each relation's name, description and schema examples);
- `tfidf+example`: the same with the drawn example's sentence in each relation's document;
- `minilm`: all-MiniLM-L6-v2 sentence embeddings (the `embeddings` extra) of the sentence and of each
  relation's name and description; `minilm+example`: each relation's vector the mean of that and of its
  example's.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from evaluate_gold import DATA, draw_examples  # bench/ is on sys.path when run as a script
from rich.console import Console
from rich.table import Table

from mbre.evaluation.gold import load_gold, select_slice
from mbre.inventory.inventory import Inventory
from mbre.inventory.retrieval import RelationIndex
from mbre.inventory.tfidf import Tfidf
from mbre.schemas.instances import Instance
from mbre.schemas.relations import RelationSchema

TOP_KS = (1, 2, 3, 5, 8)
#: A ranking of the positive relations for a sentence, nearest first.
Ranker = Callable[[Instance], list[tuple[str, float]]]


def document(schema: RelationSchema, label: str) -> str:
    relation = schema.get(label)
    return " ".join([relation.name or label, relation.description])


def cosine_ranker(labels: Sequence[str], vectors: np.ndarray, embed: Callable[[str], np.ndarray]) -> Ranker:
    def rank(instance: Instance) -> list[tuple[str, float]]:
        scores = vectors @ embed(instance.text)
        order = sorted(range(len(labels)), key=lambda i: (-round(float(scores[i]), 6), i))
        return [(labels[i], float(scores[i])) for i in order]

    return rank


def rankers(schema: RelationSchema, inventory: Inventory, examples: list[Instance]) -> dict[str, Ranker]:
    labels = [r.label for r in schema.positive]
    example_of = {str(e.relation): e.text for e in examples}
    with_examples = [f"{document(schema, label)} {example_of.get(label, '')}" for label in labels]
    tfidf = Tfidf(with_examples, sublinear_tf=True)
    shuffled = random.Random(0)
    found: dict[str, Ranker] = {
        "chance": lambda instance: [(label, 0.0) for label in shuffled.sample(labels, len(labels))],
        "tfidf": inventory.index.rank,
        "tfidf+example": cosine_ranker(labels, tfidf.matrix, lambda text: tfidf.transform(text)[0]),
    }
    from mbre.student.minilm import MiniLM, normalize

    model = MiniLM()
    described = model.embed([document(schema, label) for label in labels])
    shown = model.embed([example_of.get(label, document(schema, label)) for label in labels])
    mixed = np.stack([normalize(a + b) for a, b in zip(described, shown, strict=True)])
    cache: dict[str, np.ndarray] = {}

    def embed(text: str) -> np.ndarray:
        if text not in cache:
            cache[text] = model.embed([text])[0]
        return cache[text]

    found["minilm"] = cosine_ranker(labels, described, embed)
    found["minilm+example"] = cosine_ranker(labels, mixed, embed)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--split", default="train")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    schema = RelationSchema.from_file(args.data / "relations.json")
    inventory = Inventory.build(schema)
    drawn = select_slice(
        load_gold(args.data / f"{args.split}.jsonl", labels=schema.labels), args.n, args.seed
    )
    positive = [i for i in drawn if i.relation != schema.no_relation_label]
    pool = load_gold(args.data / "train.jsonl", labels=schema.labels)
    examples = draw_examples(pool, schema, 1, {i.id for i in drawn})
    index: RelationIndex = inventory.index
    table = Table(
        title=f"{args.data.name} {args.split}: {len(positive)} of {args.n} seeded sentences (seed "
        f"{args.seed}) with a relation; {inventory.grouping.k} groups"
    )
    for column in ("representation", "k", "groups asked", "gold group asked"):
        table.add_column(column, justify="left" if column == "representation" else "right")
    for name, rank in rankers(schema, inventory, examples).items():
        rankings = [rank(instance) for instance in positive]
        for k in TOP_KS:
            routes = [index.route(ranking, k) for ranking in rankings]
            asked = sum(len(route) for route in routes) / len(routes)
            hits = sum(
                inventory.grouping.group_of(str(i.relation)) in route
                for i, route in zip(positive, routes, strict=True)
            )
            table.add_row(name, str(k), f"{asked:.2f}", f"{hits / len(positive):.3f}")
        table.add_section()
    Console().print(table)


if __name__ == "__main__":
    main()
