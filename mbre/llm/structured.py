"""One structured LLM call: schema-constrained answer, confidence from logprobs, usage, one re-ask.

Every node talks to models through `ask`, so parse failures, abstentions and cost accounting behave
the same for extraction and verification, whatever the provider.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel

from mbre.schemas import Usage

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Answer(Generic[T]):
    """What one (possibly re-asked) structured call produced."""

    parsed: T | None
    """None when no attempt parsed: the caller records an abstention."""
    raw: str
    """The last raw output, kept so an abstention can be inspected."""
    confidence: float | None
    """Mean top-token probability of the answer field's tokens; None when the provider gave no logprobs."""
    usage: Usage
    error: str | None = None


def raw_text(message: AIMessage) -> str:
    """The model's output as text: the content, or the arguments of a tool call (tool-calling providers)."""
    if isinstance(message.content, str) and message.content:
        return message.content
    if message.tool_calls:
        return json.dumps(message.tool_calls[0]["args"], ensure_ascii=False)
    return str(message.content)


def usage_of(message: AIMessage | None) -> Usage:
    meta = (message.usage_metadata or {}) if message is not None else {}
    return Usage(
        calls=1, prompt_tokens=meta.get("input_tokens", 0), completion_tokens=meta.get("output_tokens", 0)
    )


def answer_confidence(message: AIMessage, field: str) -> float | None:
    """Mean probability of the top token over the tokens that spell the value of `field`.

    JSON punctuation is near-certain under constrained decoding, so averaging over the whole output
    would say little; the answer's own tokens carry the model's doubt. Falls back to all tokens when
    the value cannot be located in the token stream.
    """
    content = (message.response_metadata or {}).get("logprobs") or {}
    tokens: list[dict[str, Any]] = content.get("content") or []
    if not tokens:
        return None
    # The sampled token's own probability: servers report alternatives from the unconstrained
    # distribution, where the "top" token may be one the JSON schema forbids.
    probabilities = [math.exp(token["logprob"]) for token in tokens]
    text = "".join(token.get("token", "") for token in tokens)
    match = re.search(rf'"{re.escape(field)}"\s*:\s*"([^"]*)"', text)
    if match is None or match.start(1) == match.end(1):
        return sum(probabilities) / len(probabilities)
    chosen, offset = [], 0
    for token, probability in zip(tokens, probabilities, strict=True):
        end = offset + len(token.get("token", ""))
        if offset < match.end(1) and end > match.start(1):
            chosen.append(probability)
        offset = end
    return sum(chosen) / len(chosen)


def ask(
    model: BaseChatModel, messages: list[BaseMessage], schema: type[T], *, field: str, retries: int = 1
) -> Answer[T]:
    """Ask for an answer in `schema`; re-ask up to `retries` times if it does not parse, then give up
    with the raw text kept. Transport errors propagate: they are not the model's answer."""
    structured = model.with_structured_output(schema, include_raw=True)
    usage = Usage()
    raw, error = "", None
    for _ in range(retries + 1):
        result = structured.invoke(messages)
        message: AIMessage | None = result.get("raw")
        usage = usage + usage_of(message)
        raw = raw_text(message) if message is not None else ""
        parsed = result.get("parsed")
        if isinstance(parsed, schema):
            return Answer(parsed=parsed, raw=raw, confidence=answer_confidence(message, field), usage=usage)
        error = str(result.get("parsing_error") or "no answer in the expected format")
    return Answer(parsed=None, raw=raw, confidence=None, usage=usage, error=error)
