"""The input of the student check: a seeded slice of a gold training file with its labels removed, and one
example per relation drawn (seed 0) from the rest of that file, for `mbre discover --seeds`:

    python bench/student_input.py --n 1000 --seed 0 --out DIR [--data ../shared/data/semeval2010_task8]

Writes DIR/input.jsonl (id, text, head, tail: nothing the model could read a label from) and
DIR/seeds.jsonl. `bench/acceptance_runs.sh student` labels the input and trains the students on it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from evaluate_gold import DATA, draw_examples

from mbre.evaluation.gold import select_slice
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA, help="folder with relations.json and train.jsonl")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=int, default=1, help="examples per relation, from the rest")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    schema = RelationSchema.from_file(args.data / "relations.json")
    train = read_instances(args.data / "train.jsonl")
    chosen = select_slice(train, args.n, args.seed)
    seeds = draw_examples(train, schema, args.examples, {instance.id for instance in chosen})
    args.out.mkdir(parents=True, exist_ok=True)
    hidden = [instance.model_copy(update={"relation": None}) for instance in chosen]
    (args.out / "input.jsonl").write_text(
        "".join(instance.model_dump_json(exclude={"relation"}) + "\n" for instance in hidden)
    )
    (args.out / "seeds.jsonl").write_text("".join(seed.model_dump_json() + "\n" for seed in seeds))
    print(f"{len(hidden)} sentences in {args.out / 'input.jsonl'}, {len(seeds)} examples in seeds.jsonl")


if __name__ == "__main__":
    main()
