"""How often the verifier says yes to true, role-swapped and unrelated statements, by answer format.

    python bench/verify_wording.py [--n 20] [--seed 3] [--model local]

Each of n SemEval *train* sentences is checked against its gold label, the reversed direction and a
label of another type, once with the shipped plain yes/no prompt and once with the same prompt answered
as JSON {"answer": "yes"|"no"}. A useful verifier says yes to the first kind only.
"""

from __future__ import annotations

import argparse
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mbre.llm.providers import chat_model_for
from mbre.llm.structured import ask, ask_yes_no
from mbre.prompts.render import verification_messages
from mbre.run.config import load_context
from mbre.schemas.answers import VerifyAnswer
from mbre.schemas.instances import Instance, read_instances
from mbre.schemas.relations import RelationSchema

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "semeval2010_task8"
KINDS = ("gold", "reversed", "unrelated")


def reverse(label: str) -> str:
    return label.replace("(e1,e2)", "(X)").replace("(e2,e1)", "(e1,e2)").replace("(X)", "(e2,e1)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--model", default="local")
    args = parser.parse_args()

    schema = RelationSchema.from_file(DATA / "relations.json")
    rng = random.Random(args.seed)
    pool = [i for i in read_instances(DATA / "train.jsonl") if i.relation != schema.no_relation_label]
    checks: list[tuple[Instance, str, str]] = []
    for inst in rng.sample(pool, args.n):
        kind = inst.relation.split("(")[0]
        other = rng.choice([r.label for r in schema.positive if not r.label.startswith(kind)])
        checks += [
            (inst, inst.relation, "gold"),
            (inst, reverse(inst.relation), "reversed"),
            (inst, other, "unrelated"),
        ]
    model = chat_model_for(load_context(model=args.model), "verification")

    def plain(check: tuple[Instance, str, str]) -> bool:
        answer = ask_yes_no(model, verification_messages(schema, check[1], check[0]))
        return answer.parsed is not None and answer.parsed.answer == "yes"

    def as_json(check: tuple[Instance, str, str]) -> bool:
        answer = ask(model, verification_messages(schema, check[1], check[0]), VerifyAnswer, field="answer")
        return answer.parsed is not None and answer.parsed.answer == "yes"

    table = Table(title=f"yes answers out of {args.n} per kind of statement ({args.model})")
    table.add_column("answer format")
    for kind in KINDS:
        table.add_column(kind, justify="right")
    with ThreadPoolExecutor(4) as pool_:
        for name, asker in (("plain yes/no (shipped)", plain), ("JSON {answer}", as_json)):
            said_yes = list(pool_.map(asker, checks))
            table.add_row(
                name,
                *(str(sum(y for y, c in zip(said_yes, checks, strict=True) if c[2] == k)) for k in KINDS),
            )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
