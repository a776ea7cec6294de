"""A four-relation fruit schema and a scripted model over it, for the evaluation, report and replay tests.

The relations are fruits, so the FAISS ranking of a sentence is known: the fruit it names first, then the
others in schema order (similarity 0). The grouping is fixed by hand: group 0 = A, C, Other; group 1 = B, D.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mbre import MbreContext
from mbre.evaluation.strategies import Evaluation, evaluate
from mbre.inventory.grouping import Grouping
from mbre.inventory.inventory import Inventory
from mbre.schemas.instances import Instance
from mbre.schemas.relations import RelationSchema, RelationType
from tests.support.fakes import (
    Reply,
    ScriptedChatModel,
    asked_label,
    choose,
    content_free,
    even,
    instance_in,
    is_group_question,
    offered,
    text_of,
    yes_no,
)

FRUITS = {"A": "apple", "B": "banana", "C": "cherry", "D": "damson"}
SCHEMA = RelationSchema.build(
    [
        RelationType(label=label, description=f"The head grows {fruit} near the tail.")
        for label, fruit in FRUITS.items()
    ]
    + [RelationType(label="Other", description="Nothing links the head and the tail.")]
)
GROUPING = Grouping(schema_hash=SCHEMA.sha256, groups=(("A", "C", "Other"), ("B", "D")), anchors=())
INVENTORY = Inventory.build(SCHEMA, GROUPING)


def sentence(id: str, head: str, fruit: str, tail: str, gold: str) -> Instance:
    text = f"{head} {fruit} {tail}"
    return Instance(
        id=id,
        text=text,
        head={"name": head, "start": 0, "end": len(head)},
        tail={"name": tail, "start": len(text) - len(tail), "end": len(text)},
        relation=gold,
    )


@dataclass
class Plan:
    """How the fake model answers about one sentence."""

    extract: set[str] = field(default_factory=set)
    """Each group answers with its label from this set, else "none"."""
    multiclass: str = "none"
    verdicts: dict[str, tuple[str, float]] = field(default_factory=dict)
    """label -> (yes/no, probability); every other label: ("no", 0.9)."""


GOLD = [
    sentence("s1", "Ann", "apple", "Bob", "A"),
    sentence("s2", "Cat", "banana", "Dan", "B"),
    sentence("s3", "Eve", "cherry", "Fay", "Other"),
    sentence("s4", "Gus", "damson", "Hal", "D"),
]
PLANS = {
    # mbre: A, verified alone. binary: A. multiclass: A.
    "s1": Plan(extract={"A"}, multiclass="A", verdicts={"A": ("yes", 0.95)}),
    # mbre and binary: B and C verified, B (0.97) the more confident. multiclass: C (wrong).
    "s2": Plan(extract={"B", "C"}, multiclass="C", verdicts={"B": ("yes", 0.97), "C": ("yes", 0.8)}),
    # nothing proposed or verified anywhere: Other.
    "s3": Plan(),
    # mbre: D (0.85) and A (0.86) verified, neither >= 0.9: abstains. binary: A (wrong). multiclass: D.
    "s4": Plan(extract={"D", "A"}, multiclass="D", verdicts={"D": ("yes", 0.85), "A": ("yes", 0.86)}),
}


def fruit_model(
    plans: dict[str, Plan] = PLANS, instances: list[Instance] = GOLD, schema: RelationSchema = SCHEMA
) -> ScriptedChatModel:
    def respond(messages) -> Reply:
        if content_free(messages):
            return even(messages)
        prompt = text_of(messages)
        instance = instance_in(prompt, instances)
        plan = plans[instance.id]
        if is_group_question(messages):
            labels = offered(messages, schema, instance)
            if len(labels) == len(schema.positive):
                return choose(messages, schema, instance, plan.multiclass, 0.9)
            chosen = [label for label in labels if label in plan.extract]
            return choose(messages, schema, instance, chosen[0] if chosen else None, 0.9)
        answer, probability = plan.verdicts.get(asked_label(prompt, schema, instance), ("no", 0.9))
        return yes_no(answer, probability)

    return ScriptedChatModel(responder=respond)


def run_fruit_evaluation(out_dir: Path, **options) -> Evaluation:
    ctx = MbreContext(chat_model=fruit_model(), decision="paper")  # the rules these tests count on
    return evaluate(INVENTORY, GOLD, ["mbre", "multiclass", "binary"], ctx, out_dir, concurrency=2, **options)


def keyword_sentences(prefix: str, nouns: list[str], n: int) -> list[Instance]:
    """`X caused Y` is cause, `X and Y` is Other: a student separates them by one word."""
    instances = []
    for i in range(n):
        head, tail = nouns[i % len(nouns)], nouns[(i * 3 + 1) % len(nouns)]
        relation, middle = ("cause", " caused ") if i % 2 else ("Other", " and ")
        text = f"{head}{middle}{tail}."
        instances.append(
            Instance(
                id=f"{prefix}{i}",
                text=text,
                head={"name": head, "start": 0, "end": len(head)},
                tail={
                    "name": tail,
                    "start": len(head) + len(middle),
                    "end": len(head) + len(middle) + len(tail),
                },
                relation=relation,
            )
        )
    return instances
