"""Rendering a sentence into the prompt templates (the TOML files beside this module), and their hash."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from mbre.schemas.instances import Instance
from mbre.schemas.relations import RelationSchema

TEMPLATE_NAMES = ("extract", "verify")
HEAD_OPEN, HEAD_CLOSE, TAIL_OPEN, TAIL_CLOSE = "<head>", "</head>", "<tail>", "</tail>"

# Role words of the kind definitions use ("the head (e1)", "the tail", "e2"), replaced by the entities'
# own words when a definition becomes a claim about one sentence.
_HEAD_WORDS = re.compile(r"\b[Tt]he head(?!\w)(?: entity)?(?: \(e1\))?|\(?\be1\b\)?")
_TAIL_WORDS = re.compile(r"\b[Tt]he tail(?!\w)(?: entity)?(?: \(e2\))?|\(?\be2\b\)?")


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    fields: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.fields[key]


@cache
def load(name: str) -> PromptTemplate:
    text = resources.files(__package__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return PromptTemplate(name=name, fields=tomllib.loads(text))


@cache
def prompts_hash() -> str:
    """sha256 over all template files: recorded in provenance, so a prompt edit shows in every sample."""
    digest = hashlib.sha256()
    for name in TEMPLATE_NAMES:
        digest.update(resources.files(__package__).joinpath(f"{name}.toml").read_bytes())
    return digest.hexdigest()


def mark(text: str, head: tuple[int, int], tail: tuple[int, int]) -> str:
    """Wrap the head and tail spans of `text` in their markers."""
    spans = sorted([(head, HEAD_OPEN, HEAD_CLOSE), (tail, TAIL_OPEN, TAIL_CLOSE)], key=lambda s: s[0][0])
    out, cursor = [], 0
    for (start, end), opening, closing in spans:
        out += [text[cursor:start], opening, text[start:end], closing]
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def _mark_words(text: str, head: str, tail: str) -> str:
    """Mark an example sentence whose entities are given as words (first occurrences)."""
    h = text.find(head)
    t = text.find(tail, h + len(head)) if h >= 0 else -1
    t = t if t >= 0 else text.find(tail)
    if h < 0 or t < 0 or (h < t + len(tail) and t < h + len(head)):
        return text
    return mark(text, (h, h + len(head)), (t, t + len(tail)))


def marked_sentence(instance: Instance) -> str:
    return mark(
        instance.text, (instance.head.start, instance.head.end), (instance.tail.start, instance.tail.end)
    )


def claim(description: str, head: str, tail: str) -> str:
    """A definition restated about one sentence: "the head (e1) is a cause of the tail (e2)" becomes
    '"smoke" is a cause of "fire"'. Definitions without role words get the roles appended."""
    text, n_head = _HEAD_WORDS.subn(f'"{head}"', description)
    text, n_tail = _TAIL_WORDS.subn(f'"{tail}"', text)
    if not (n_head and n_tail):
        text = f'{text} (head: "{head}", tail: "{tail}")'
    return text[0].upper() + text[1:]


def extraction_messages(schema: RelationSchema, labels: list[str], instance: Instance) -> list[BaseMessage]:
    template = load("extract")
    lines = []
    for label in labels:
        relation = schema.get(label)
        lines.append(template["relation"].format(label=label, description=relation.description))
        for example in relation.examples[:1]:
            sentence = _mark_words(example.text, example.head, example.tail)
            lines.append(template["example"].format(sentence=sentence, head=example.head, tail=example.tail))
    head, tail = instance.head.name, instance.tail.name
    return [
        SystemMessage(template["system"].format(relations="\n".join(lines))),
        HumanMessage(template["user"].format(sentence=marked_sentence(instance), head=head, tail=tail)),
    ]


def verification_messages(schema: RelationSchema, label: str, instance: Instance) -> list[BaseMessage]:
    template = load("verify")
    relation = schema.get(label)
    statement = claim(relation.description, instance.head.name, instance.tail.name)
    system = template["system"].format(label=label, description=relation.description)
    user = HumanMessage(template["user"].format(sentence=marked_sentence(instance), claim=statement))
    return [SystemMessage(system), user] if system else [user]
