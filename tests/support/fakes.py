"""A scripted chat model for unit tests: one-word answers (an option letter, yes or no), with optional
first-token alternatives so that probability-based decisions can be driven, and helpers that read and
answer mbre's questions."""

from __future__ import annotations

import math
import random
import re
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from mbre.prompts.render import claim, content_free_instances, load, marked_sentence
from mbre.schemas.instances import Instance
from mbre.schemas.relations import RelationSchema


@dataclass
class Reply:
    """One scripted answer: the text the model says, and the alternatives of its first token."""

    text: str
    probabilities: dict[str, float] | None = None
    """First-token alternatives, word -> probability; None: no logprobs, like many providers."""


Responder = Callable[[list[BaseMessage]], Reply]


class ScriptedChatModel(BaseChatModel):
    responder: Responder
    calls: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def _generate(
        self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs: Any
    ) -> ChatResult:
        self.calls.append(messages)
        reply = self.responder(messages)
        usage = {"input_tokens": 100, "output_tokens": 2, "total_tokens": 102}
        metadata = {}
        if reply.probabilities is not None:
            first = {
                "token": reply.text,
                "logprob": math.log(reply.probabilities.get(reply.text, 1e-9) or 1e-9),
                "top_logprobs": [
                    {"token": word, "logprob": math.log(p)}
                    for word, p in reply.probabilities.items()
                    if p > 0
                ],
            }
            metadata = {"logprobs": {"content": [first]}}
        message = AIMessage(content=reply.text, usage_metadata=usage, response_metadata=metadata)
        return ChatResult(generations=[ChatGeneration(message=message)])


Messages = list[BaseMessage] | list[dict[str, Any]]
_OPTION = re.compile(r"^([A-Za-z])\. (.*)$", flags=re.MULTILINE)


def is_group_question(messages: Messages) -> bool:
    return load("extract")["none"].format(letter="X")[3:] in text_of(messages)


def options(messages: Messages) -> list[tuple[str, str]]:
    """A group question's options, (letter, statement), in order; "none" is the last."""
    return _OPTION.findall(str(_content(messages[-1])))


def offered(messages: Messages, schema: RelationSchema, instance: Instance) -> list[str]:
    """The labels a group question offers about `instance`, in letter order (without "none")."""
    claims = {claim(r.description, instance.head.name, instance.tail.name): r.label for r in schema.positive}
    return [claims[statement] for _, statement in options(messages)[:-1]]


def choose(
    messages: Messages,
    schema: RelationSchema,
    instance: Instance,
    label: str | None,
    probability: float | None = None,
) -> Reply:
    """Answer a group question with `label`'s letter ("none"'s for None or a label it does not offer);
    with `probability`, that letter has it and the other letters share the rest evenly."""
    letters = [letter for letter, _ in options(messages)]
    labels = offered(messages, schema, instance)
    chosen = letters[labels.index(label)] if label in labels else letters[-1]
    if probability is None:
        return Reply(chosen)
    rest = (1 - probability) / (len(letters) - 1)
    return Reply(chosen, {letter: probability if letter == chosen else rest for letter in letters})


def yes_no(answer: str, probability: float | None = None) -> Reply:
    """A verification's answer; with `probability`, the answer has it and the other word the rest."""
    word = answer.capitalize()
    if probability is None:
        return Reply(word)
    other = "No" if word == "Yes" else "Yes"
    return Reply(word, {word: probability, other: 1 - probability})


def content_free(messages: Messages) -> bool:
    """Whether the question is about a content-free sentence (calibration)."""
    prompt = text_of(messages)
    return any(f"Sentence: {marked_sentence(blank)}" in prompt for blank in content_free_instances())


def even(messages: Messages) -> Reply:
    """No preference at all: every option, or yes and no, equally likely. As a calibration answer it
    leaves every other answer as it is."""
    if is_group_question(messages):
        letters = [letter for letter, _ in options(messages)]
        return Reply(letters[-1], dict.fromkeys(letters, 1 / len(letters)))
    return Reply("Yes", {"Yes": 0.5, "No": 0.5})


def _content(message: BaseMessage | dict[str, Any]) -> Any:
    return message["content"] if isinstance(message, dict) else message.content


def text_of(messages: Messages) -> str:
    return "\n".join(str(_content(m)) for m in messages)


def instance_in(prompt: str, instances: list[Instance]) -> Instance:
    """The instance a prompt is about: its marked sentence pins down the head and tail too."""
    (instance,) = [i for i in instances if marked_sentence(i) in prompt]
    return instance


def asked_label(prompt: str, schema: RelationSchema, instance: Instance) -> str:
    """The label a verification prompt asks about: the one whose definition it restates as a claim."""
    (label,) = [
        r.label
        for r in schema.positive
        if claim(r.description, instance.head.name, instance.tail.name) in prompt
    ]
    return label


def gold_script(schema: RelationSchema, instances: list[Instance]):
    """For the HTTP stub: answer like a perfect model, the gold label of the sentence when offered and
    yes only for it; content-free sentences get the last option and "No"."""

    def script(messages, schema_name: str):
        if content_free(messages):
            return options(messages)[-1][0] if is_group_question(messages) else "No"
        prompt = text_of(messages)
        instance = instance_in(prompt, instances)
        if is_group_question(messages):
            return choose(messages, schema, instance, instance.relation).text
        return "Yes" if asked_label(prompt, schema, instance) == instance.relation else "No"

    return script


def gold_reply(messages: Messages, schema: RelationSchema, instances: list[Instance]) -> Reply:
    """A perfect labeller's answer: the gold label's letter at 0.9 when offered (else "none"), yes at 0.95
    only for the gold label; content-free questions get no preference."""
    if content_free(messages):
        return even(messages)
    prompt = text_of(messages)
    instance = instance_in(prompt, instances)
    if is_group_question(messages):
        return choose(messages, schema, instance, instance.relation, 0.9)
    holds = asked_label(prompt, schema, instance) == instance.relation
    return yes_no("yes" if holds else "no", 0.95)


def gold_model(schema: RelationSchema, instances: list[Instance]) -> ScriptedChatModel:
    return ScriptedChatModel(responder=lambda messages: gold_reply(messages, schema, instances))


def leaning_reply(messages: Messages, schema: RelationSchema, instances: list[Instance]) -> Reply:
    """A question's distribution: the gold answer at a probability between 0.6 and 0.95 that differs per
    sentence, the rest spread evenly; no preference on content-free sentences."""
    prompt = text_of(messages)
    if content_free(messages):
        return even(messages)
    instance = instance_in(prompt, instances)
    p = 0.6 + 0.35 * (zlib.crc32(instance.id.encode()) % 100) / 100
    if is_group_question(messages):
        return choose(messages, schema, instance, instance.relation, p)
    holds = asked_label(prompt, schema, instance) == instance.relation
    return yes_no("yes" if holds else "no", p)


def stating(reply: Reply) -> Reply:
    """`reply` as confidence="verbalized" asks for it: its word, then its probability as a percentage
    ("B 73%"), and no token probabilities; the word alone when the reply has no probability."""
    if reply.probabilities is None:
        return Reply(reply.text)
    return Reply(f"{reply.text} {round(100 * reply.probabilities[reply.text])}%")


def stating_script(schema: RelationSchema, instances: list[Instance]):
    """For the HTTP stubs: a model that states its confidence after its answer, the answer and the
    confidence those of `leaning_reply`."""
    return lambda messages, schema_name: stating(leaning_reply(messages, schema, instances)).text


def sampling_script(schema: RelationSchema, instances: list[Instance], seed: int = 0):
    """For the HTTP stubs: a model sampled at a temperature. Each question has a distribution
    (`leaning_reply`), and each call draws its answer from it with a seeded generator; the `Reply` carries
    the distribution as its first token's alternatives."""
    draw, lock = random.Random(seed), threading.Lock()

    def script(messages, schema_name: str) -> Reply:
        reply = leaning_reply(messages, schema, instances)
        assert reply.probabilities is not None
        words, weights = zip(*reply.probabilities.items(), strict=True)
        with lock:
            (text,) = draw.choices(words, weights)
        return Reply(text, reply.probabilities)

    return script
