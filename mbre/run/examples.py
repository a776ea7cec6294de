"""Examples for an inventory that has none (`mbre examples`): the model writes sentences from each
relation's definition, and mbre keeps those its own verifier accepts.

A written sentence is kept in the orientation the verifier prefers: the relation is asked about the
sentence as marked and with head and tail swapped, so a sentence written the wrong way round becomes an
example the right way round, and one the verifier accepts neither way is dropped. A relation that already
has enough examples is left as the user wrote it; a kept example records the model that wrote it
(`generated_by`), and the relations file it goes to is a new file, the user's own left untouched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mbre.errors import InputError
from mbre.graph.context import MbreContext
from mbre.graph.questions import ask_verification
from mbre.inventory.demonstrations import example_instance
from mbre.inventory.inventory import Inventory
from mbre.llm.providers import chat_model_for
from mbre.llm.structured import ask_text, list_item
from mbre.prompts.render import (
    HEAD_CLOSE,
    HEAD_OPEN,
    TAIL_CLOSE,
    TAIL_OPEN,
    answer_tokens,
    demonstration_messages,
)
from mbre.schemas.relations import RelationExample
from mbre.schemas.results import Usage

_MARK = re.compile(
    f"{re.escape(HEAD_OPEN)}(.+?){re.escape(HEAD_CLOSE)}|{re.escape(TAIL_OPEN)}(.+?){re.escape(TAIL_CLOSE)}"
)


def read_marked(line: str) -> RelationExample | None:
    """A sentence with one head and one tail marked, as an example; None for anything else, and for one
    whose names would be found elsewhere in it (an example is placed by the first occurrence of each)."""
    line = list_item(line).strip().strip("\"'`").strip()
    parts, names, starts, cursor, length = [], {}, {}, 0, 0
    for match in _MARK.finditer(line):
        role = "head" if match.group(1) is not None else "tail"
        marked = match.group(1) if role == "head" else match.group(2)
        if role in names or not marked.strip():
            return None
        before = line[cursor : match.start()]
        parts += [before, marked]
        starts[role] = length + len(before) + len(marked) - len(marked.lstrip())
        names[role] = marked.strip()
        length += len(before) + len(marked)
        cursor = match.end()
    parts.append(line[cursor:])
    text = "".join(parts)
    if len(names) != 2 or any(tag in text for tag in (HEAD_OPEN, HEAD_CLOSE, TAIL_OPEN, TAIL_CLOSE)):
        return None
    example = RelationExample(text=text, head=names["head"], tail=names["tail"])
    try:
        placed = example_instance(example, "-", 1)
    except InputError:
        return None
    return example if (placed.head.start, placed.tail.start) == (starts["head"], starts["tail"]) else None


def read_sentences(answer: str) -> list[RelationExample] | None:
    """Every marked sentence of the answer, one a line; None when it holds none (asked again)."""
    found = [example for line in answer.splitlines() if (example := read_marked(line))]
    return found or None


@dataclass(frozen=True)
class Judged:
    """A written sentence as the verifier saw it, in the orientation it preferred."""

    example: RelationExample
    p_yes: float | None
    """The verifier's probability of yes; None when the run takes no confidences."""
    swapped: bool
    """Whether head and tail were swapped from how the model marked them."""


@dataclass
class Written:
    """What `mbre examples` did for one relation."""

    label: str
    wanted: int
    """Examples still missing: `per_relation` less the user's own; 0 leaves the relation alone."""
    proposed: int = 0
    """Marked sentences read from the model's answers."""
    accepted: list[Judged] = field(default_factory=list)
    """The sentences the verifier accepted, the most confident first."""
    usage: Usage = field(default_factory=Usage)

    @property
    def kept(self) -> list[Judged]:
        return self.accepted[: self.wanted]


def write_examples(
    inventory: Inventory,
    ctx: MbreContext,
    *,
    per_relation: int = 1,
    count: int = 3,
    on_relation: Callable[[Written], None] | None = None,
) -> list[Written]:
    """For every positive relation with fewer than `per_relation` examples, ask for `count` sentences
    and verify each both ways round; `on_relation` hears each relation as it is done."""
    schema = inventory.schema
    model = chat_model_for(ctx, "extraction")
    author = ctx.model_name("extraction") if ctx.chat_model is None else type(ctx.chat_model).__name__
    seen = {example.text for relation in schema.positive for example in relation.examples}
    done = []
    for relation in schema.positive:
        written = Written(relation.label, max(0, per_relation - len(relation.examples)))
        if written.wanted:
            answer = ask_text(
                model,
                demonstration_messages(relation.description, count),
                read_sentences,
                max_tokens=answer_tokens("demonstrate"),
                retries=ctx.parse_retries,
            )
            written.usage += answer.usage
            for sentence in answer.parsed or []:
                if sentence.text in seen:
                    continue
                seen.add(sentence.text)
                written.proposed += 1
                judged = _judge(inventory, ctx, relation.label, sentence, written)
                if judged is not None:
                    example = judged.example.model_copy(update={"generated_by": author})
                    written.accepted.append(Judged(example, judged.p_yes, judged.swapped))
            written.accepted.sort(key=lambda j: -(j.p_yes if j.p_yes is not None else 0.0))
        done.append(written)
        if on_relation is not None:
            on_relation(written)
    return done


def _judge(
    inventory: Inventory, ctx: MbreContext, label: str, sentence: RelationExample, written: Written
) -> Judged | None:
    """The orientation whose verification says yes, the more confident one when both do; None when
    neither does."""
    verdicts = []
    for swapped in (False, True):
        example = (
            sentence.model_copy(update={"head": sentence.tail, "tail": sentence.head})
            if swapped
            else sentence
        )
        answer = ask_verification(inventory, ctx, label, example_instance(example, label, 0))
        written.usage += answer.usage
        choice = answer.parsed
        if choice is not None and choice.index == 0:
            p_yes = choice.probabilities[0] if choice.probabilities else None
            verdicts.append(Judged(example, p_yes, swapped))
    if not verdicts:
        return None
    return max(verdicts, key=lambda j: j.p_yes if j.p_yes is not None else -float(j.swapped))


def with_examples(document: Any, written: Sequence[Written]) -> Any:
    """The relations file's JSON (a list of relations, or an object holding `relations`) with each
    relation's kept examples appended to its own, everything else exactly as it was."""
    kept = {w.label: w.kept for w in written if w.kept}
    items = document["relations"] if isinstance(document, dict) else document
    for item in items:
        label = str(item.get("label", item.get("relation", ""))).strip()
        if label in kept:
            item["examples"] = [
                *item.get("examples", []),
                *(j.example.model_dump(mode="json") for j in kept[label]),
            ]
    return document
