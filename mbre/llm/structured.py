"""One LLM call with a checked answer: confidence from logprobs, usage, and one re-ask on a bad answer.

Every node talks to models through `ask` (a JSON-schema answer, constrained where the server can) or
`ask_yes_no` (a plain yes/no answer), so parse failures, abstentions and cost accounting behave the same
for extraction and verification, whatever the provider.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel

from mbre.schemas import Usage
from mbre.schemas.answers import VerifyAnswer

T = TypeVar("T", bound=BaseModel)
_YES_NO = re.compile(r"^\W*(yes|no)\b[\s.,:;!-]*(.*)", flags=re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Answer(Generic[T]):
    """What one (possibly re-asked) call produced."""

    parsed: T | None
    """None when no attempt parsed: the caller records an abstention."""
    raw: str
    """The last raw output, kept so an abstention can be inspected."""
    confidence: float | None
    """Mean probability of the answer's tokens; None when the provider gave no logprobs."""
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


def _tokens(message: AIMessage) -> list[dict[str, Any]]:
    return ((message.response_metadata or {}).get("logprobs") or {}).get("content") or []


def span_confidence(message: AIMessage, start: int, end: int) -> float | None:
    """Mean probability of the sampled tokens that overlap characters [start, end) of the output.

    The sampled token's own probability, not the top alternative's: servers report alternatives from
    the unconstrained distribution, where the "top" token may be one the JSON schema forbids."""
    tokens = _tokens(message)
    if not tokens:
        return None
    chosen, offset = [], 0
    for token in tokens:
        token_end = offset + len(token.get("token", ""))
        if offset < end and token_end > start:
            chosen.append(math.exp(token["logprob"]))
        offset = token_end
    if not chosen:  # the span is not in the token stream: fall back to the whole output
        chosen = [math.exp(token["logprob"]) for token in tokens]
    return sum(chosen) / len(chosen)


def answer_confidence(message: AIMessage, field: str) -> float | None:
    """Confidence of a JSON answer: its `field` value's tokens carry the model's doubt, not the
    near-certain punctuation around them."""
    text = "".join(token.get("token", "") for token in _tokens(message))
    match = re.search(rf'"{re.escape(field)}"\s*:\s*"([^"]*)"', text)
    if match is None or match.start(1) == match.end(1):
        return span_confidence(message, 0, 0)
    return span_confidence(message, match.start(1), match.end(1))


def yes_no_confidence(message: AIMessage, answer: str, start: int, end: int) -> float | None:
    """Probability of the given answer against the other, over the answer token's alternatives.

    In free text the mass of "yes" is split over spellings ("Yes", "yes", " Yes"), so the sampled
    token's own probability understates it; summing the spellings of each answer and normalising over
    both answers measures what the question asks. Without alternatives, the sampled token's probability."""
    offset = 0
    for token in _tokens(message):
        token_end = offset + len(token.get("token", ""))
        if offset < end and token_end > start:
            mass = {"yes": 0.0, "no": 0.0}
            for alternative in token.get("top_logprobs") or []:
                word = alternative["token"].strip(" \"'.,:").lower()
                if word in mass:
                    mass[word] += math.exp(alternative["logprob"])
            if mass[answer] > 0:
                return mass[answer] / (mass["yes"] + mass["no"])
            break
        offset = token_end
    return span_confidence(message, start, end)


# A call that returns the raw message, the parsed answer (or None) and the answer's confidence.
_Attempt = Callable[[], tuple[AIMessage | None, Any, float | None, str | None]]


def _with_retries(attempt: _Attempt, retries: int) -> Answer:
    usage, raw, error = Usage(), "", None
    for _ in range(retries + 1):
        message, parsed, confidence, error = attempt()
        usage = usage + usage_of(message)
        raw = raw_text(message) if message is not None else ""
        if parsed is not None:
            return Answer(parsed=parsed, raw=raw, confidence=confidence, usage=usage)
    return Answer(parsed=None, raw=raw, confidence=None, usage=usage, error=error)


def ask(
    model: BaseChatModel, messages: list[BaseMessage], schema: type[T], *, field: str, retries: int = 1
) -> Answer[T]:
    """Ask for an answer in `schema`; re-ask up to `retries` times if it does not parse, then give up
    with the raw text kept. Transport errors propagate: they are not the model's answer."""
    structured = model.with_structured_output(schema, include_raw=True)

    def attempt() -> tuple[AIMessage | None, Any, float | None, str | None]:
        result = structured.invoke(messages)
        message, parsed = result.get("raw"), result.get("parsed")
        if isinstance(parsed, schema) and message is not None:
            return message, parsed, answer_confidence(message, field), None
        return message, None, None, str(result.get("parsing_error") or "no answer in the expected format")

    return _with_retries(attempt, retries)


def ask_yes_no(
    model: BaseChatModel, messages: list[BaseMessage], *, retries: int = 1
) -> Answer[VerifyAnswer]:
    """Ask a yes/no question answered in plain text: the first word decides, the rest is evidence."""

    def attempt() -> tuple[AIMessage | None, Any, float | None, str | None]:
        message = model.invoke(messages)
        text = raw_text(message)
        match = _YES_NO.match(text)
        if match is None:
            return message, None, None, "the answer does not start with yes or no"
        parsed = VerifyAnswer(answer=match.group(1).lower(), evidence=match.group(2).strip()[:200])
        return message, parsed, yes_no_confidence(message, parsed.answer, match.start(1), match.end(1)), None

    return _with_retries(attempt, retries)
