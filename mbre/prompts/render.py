"""Rendering a sentence into the prompt templates (the TOML files beside this module), and their hash."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from mbre.schemas.answers import option_letters
from mbre.schemas.instances import Instance, Span
from mbre.schemas.relations import RelationSchema

TEMPLATE_NAMES = ("extract", "verify", "calibration")
HEAD_OPEN, HEAD_CLOSE, TAIL_OPEN, TAIL_CLOSE = "<head>", "</head>", "<tail>", "</tail>"

# Role words of the kind definitions use ("the head (e1)", "the tail", "e2"), replaced by the entities'
# own words when a definition becomes a claim about one sentence.
_HEAD_WORDS = re.compile(r"\b[Tt]he head(?!\w)(?: entity)?(?: \(e1\))?|\(?\be1\b\)?")
_TAIL_WORDS = re.compile(r"\b[Tt]he tail(?!\w)(?: entity)?(?: \(e2\))?|\(?\be2\b\)?")


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    fields: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]


@cache
def load(name: str) -> PromptTemplate:
    text = resources.files(__package__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return PromptTemplate(name=name, fields=tomllib.loads(text))


@cache
def prompts_hash(verbalized: bool = False) -> str:
    """sha256 over the template files a run's questions use: recorded in provenance, so a prompt edit shows
    in every sample. `verbalized.toml` counts in verbalized runs only, so the others keep their hash."""
    digest = hashlib.sha256()
    for name in (*TEMPLATE_NAMES, "verbalized") if verbalized else TEMPLATE_NAMES:
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


def _examples(template: PromptTemplate, demonstrations: Sequence[Instance], schema: RelationSchema) -> str:
    """The examples block of a template: each demonstration's marked sentence and its relation's claim."""
    lines = [
        template["example"].format(
            sentence=marked_sentence(demo),
            claim=claim(schema.get(str(demo.relation)).description, demo.head.name, demo.tail.name),
        )
        for demo in demonstrations
    ]
    return template["examples"].format(lines="\n".join(lines)) if lines else ""


def extraction_messages(
    schema: RelationSchema,
    labels: Sequence[str],
    instance: Instance,
    demonstrations: Sequence[Instance] = (),
) -> list[BaseMessage]:
    """The multiple-choice question of one group: its labels as lettered statements about the sentence's
    entities, then "none" (the last letter, see `option_letters`)."""
    template = load("extract")
    letters = option_letters(len(labels) + 1)
    head, tail = instance.head.name, instance.tail.name
    options = [
        template["option"].format(letter=letter, claim=claim(schema.get(label).description, head, tail))
        for letter, label in zip(letters, labels, strict=False)
    ]
    options.append(template["none"].format(letter=letters[-1]))
    system = template["system"].format(examples=_examples(template, demonstrations, schema))
    user = template["user"].format(sentence=marked_sentence(instance), options="\n".join(options))
    return [SystemMessage(system), HumanMessage(user)]


def verification_messages(
    schema: RelationSchema, label: str, instance: Instance, demonstrations: Sequence[Instance] = ()
) -> list[BaseMessage]:
    """The yes/no question whether `label` holds, its definition restated about the sentence's entities."""
    template = load("verify")
    statement = claim(schema.get(label).description, instance.head.name, instance.tail.name)
    system = template["system"] or _examples(template, demonstrations, schema)
    user = HumanMessage(template["user"].format(sentence=marked_sentence(instance), claim=statement))
    return [SystemMessage(system), user] if system else [user]


def entity_messages(sentence: str, types: Sequence[str] = ()) -> list[BaseMessage]:
    """The entity finder's question about one sentence, offering `types` when the inventory declares any."""
    template = load("entities")
    listed = template["types"].format(types=", ".join(types)) if types else ""
    return [
        SystemMessage(template["system"].format(types=listed)),
        HumanMessage(template["user"].format(sentence=sentence)),
    ]


def demonstration_messages(description: str, count: int) -> list[BaseMessage]:
    """`mbre examples`' request for `count` sentences in which the relation of `description` holds, head
    and tail marked as every question marks them."""
    template = load("demonstrate")
    return [
        SystemMessage(template["system"]),
        HumanMessage(template["user"].format(definition=description, count=count)),
    ]


def answer_tokens(name: str, *, verbalized: bool = False) -> int:
    """The most tokens an answer to template `name` needs: a letter or a yes/no and a full stop, or an
    entity list; `verbalized`: the word and a stated percentage (`verbalized.toml`)."""
    return int(load("verbalized" if verbalized else name)["max_tokens"])


def verbalized_messages(messages: list[BaseMessage], name: str, choices: Sequence[str]) -> list[BaseMessage]:
    """confidence="verbalized": question `name` ("extract" or "verify") asking for its answer and then a
    stated confidence, its user message's answer instruction replaced as `verbalized.toml` says."""
    template = load("verbalized")[name]
    *earlier, question = messages
    before, asked, after = str(question.content).rpartition(template["asked"])
    if not asked:
        raise ValueError(f"the {name} question holds no {template['asked']!r} for verbalized.toml to replace")
    answer = template["answer"].format(first=choices[0])
    return [*earlier, HumanMessage(before + answer + after)]


def content_free_instances() -> list[Instance]:
    """The content-free sentences of `calibration.toml`, as instances to ask every question about."""
    instances = []
    for number, entry in enumerate(load("calibration")["sentences"]):
        text, head, tail = entry["text"], entry["head"], entry["tail"]
        start = text.index(head)
        tail_start = text.index(tail, start + len(head))
        instances.append(
            Instance(
                id=f"content-free-{number}",
                text=text,
                head=Span(name=head, start=start, end=start + len(head)),
                tail=Span(name=tail, start=tail_start, end=tail_start + len(tail)),
            )
        )
    return instances


def probe_messages() -> list[BaseMessage]:
    """The endpoint check's question (`probe.toml`), asked to see whether token probabilities come back."""
    return [HumanMessage(content=load("probe")["user"])]
