"""A scripted chat model for unit tests: answers through tool calls (langchain's generic structured-output
path), with optional per-answer token probabilities so confidence-based decisions can be driven."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from mbre.prompts.render import claim, marked_sentence
from mbre.schemas.instances import Instance
from mbre.schemas.relations import RelationSchema


@dataclass
class Reply:
    """One scripted answer: `args` for a well-formed answer, or `text` for unparseable output."""

    args: dict[str, Any] | None = None
    text: str = ""
    probability: float | None = None
    """Probability of each token of the answer's value; None: no logprobs, like many providers."""


Responder = Callable[[list[BaseMessage], str], Reply]


class ScriptedChatModel(BaseChatModel):
    responder: Responder
    calls: list[tuple[str, list[BaseMessage]]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def bind_tools(self, tools: list[Any], *, tool_choice: Any = None, **kwargs: Any):
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(
        self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs: Any
    ) -> ChatResult:
        # Bound tools mean a structured (JSON) answer; none mean a plain-text answer ("text").
        schema_name = kwargs["tools"][0]["function"]["name"] if kwargs.get("tools") else "text"
        self.calls.append((schema_name, messages))
        reply = self.responder(messages, schema_name)
        usage = {"input_tokens": 100, "output_tokens": 10, "total_tokens": 110}
        if reply.args is None:
            message = AIMessage(content=reply.text, usage_metadata=usage)
        elif schema_name == "text":  # a yes/no answer in words: "Yes. <evidence>"
            word, rest = reply.args["answer"].capitalize(), f". {reply.args.get('evidence', '')}"
            metadata = _text_logprobs(word, rest, reply)
            message = AIMessage(content=word + rest, usage_metadata=usage, response_metadata=metadata)
        else:
            message = AIMessage(
                content="",
                tool_calls=[{"name": schema_name, "args": reply.args, "id": f"call{len(self.calls)}"}],
                usage_metadata=usage,
                response_metadata=_logprobs(reply),
            )
        return ChatResult(generations=[ChatGeneration(message=message)])


def _text_logprobs(word: str, rest: str, reply: Reply) -> dict[str, Any]:
    if reply.probability is None:
        return {}
    tokens = [(word, math.log(reply.probability)), (rest, 0.0)]
    return {"logprobs": {"content": [{"token": t, "logprob": lp, "top_logprobs": []} for t, lp in tokens]}}


def _logprobs(reply: Reply) -> dict[str, Any]:
    """Tokens that spell the JSON answer; the answer value's tokens carry `reply.probability`."""
    if reply.probability is None or reply.args is None:
        return {}
    key = "label" if "label" in reply.args else "answer"
    value = str(reply.args[key])
    empty = json.dumps({key: ""})  # '{"label": ""}': the value goes between the last two quotes
    tokens = [(empty[:-2], 0.0), (value, math.log(reply.probability)), (empty[-2:], 0.0)]
    return {"logprobs": {"content": [{"token": t, "logprob": lp, "top_logprobs": []} for t, lp in tokens]}}


def text_of(messages: list[BaseMessage] | list[dict[str, Any]]) -> str:
    return "\n".join(str(m["content"] if isinstance(m, dict) else m.content) for m in messages)


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
    yes only for it."""

    def script(messages, schema_name: str):
        prompt = text_of(messages)
        instance = instance_in(prompt, instances)
        if schema_name == "GroupAnswer":
            offered = re.findall(r"^- (\S+): ", messages[0]["content"], flags=re.MULTILINE)
            return {"label": instance.relation if instance.relation in offered else "none"}
        return "Yes, it says so." if asked_label(prompt, schema, instance) == instance.relation else "No."

    return script
