"""One LLM call with a checked answer: confidence from logprobs, usage, and one re-ask on a bad answer.

Every node talks to models through `ask` (a JSON-schema answer, constrained where the server can) or
`ask_yes_no` (a plain yes/no answer), so parse failures, abstentions, transient-error retries, cache hits
and cost accounting behave the same for extraction and verification, whatever the provider.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

from mbre.llm.cache import is_cache_hit, reask
from mbre.llm.ratelimit import RateLimiter
from mbre.llm.retry import Retrier
from mbre.schemas.answers import VerifyAnswer
from mbre.schemas.results import Usage

T = TypeVar("T", bound=BaseModel)
_YES_NO = re.compile(r"^\W*(yes|no)\b[\s.,:;!-]*(.*)", flags=re.IGNORECASE | re.DOTALL)
#: For chat models that carry no Retrier of their own (test doubles, custom models).
_DEFAULT_RETRIER = Retrier()
#: What the openai SDK raises instead of returning an answer it cannot parse (see `_refused_answer`).
_SDK_REFUSALS = (ValidationError, openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError)


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


def usage_of(message: AIMessage | None, *, retries: int = 0) -> Usage:
    """One call's usage. A call the LLM-call cache answered still counts its tokens (they were asked
    for), and counts them again as cached (they were not billed)."""
    meta: Mapping[str, Any] = (message.usage_metadata or {}) if message is not None else {}
    prompt, completion = meta.get("input_tokens", 0), meta.get("output_tokens", 0)
    hit = is_cache_hit(message)
    return Usage(
        calls=1,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_calls=int(hit),
        cached_prompt_tokens=prompt if hit else 0,
        cached_completion_tokens=completion if hit else 0,
        retries=retries,
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


def _retrier(model: BaseChatModel) -> Retrier:
    """The model's own Retrier (mbre's chat models carry one, see `chat_model`), else a default one."""
    retrier = getattr(model, "retrier", None)
    return retrier if isinstance(retrier, Retrier) else _DEFAULT_RETRIER


def _debit(model: BaseChatModel, message: AIMessage | None) -> None:
    """Tell the model's rate limiter the tokens a call spent; the cache's answers cost nothing."""
    if isinstance(model.rate_limiter, RateLimiter) and message is not None and not is_cache_hit(message):
        spent = usage_of(message)
        model.rate_limiter.record(spent.prompt_tokens + spent.completion_tokens)


def _with_retries(model: BaseChatModel, attempt: _Attempt, retries: int) -> Answer:
    """Ask, and re-ask up to `retries` times while the answer does not parse. Each ask is retried on
    transient errors by the model's Retrier, and keyed apart in the cache by its re-ask number."""
    retrier = _retrier(model)
    usage, raw, error = Usage(), "", None
    for number in range(retries + 1):
        with reask(number):
            (message, parsed, confidence, error), retried = retrier.call(attempt)
        _debit(model, message)
        usage = usage + usage_of(message, retries=retried)
        raw = raw_text(message) if message is not None else ""
        if parsed is not None:
            return Answer(parsed=parsed, raw=raw, confidence=confidence, usage=usage)
    return Answer(parsed=None, raw=raw, confidence=None, usage=usage, error=error)


def _refused_answer(exc: Exception) -> AIMessage | None:
    """The completion behind an answer the openai SDK would not hand back, as a message, so that it is
    accounted and kept like any unparseable answer. (For a pydantic response_format the SDK parses the
    content itself and raises on bad JSON or a cut-off answer; langchain-openai attaches the HTTP response
    to the exception.)"""
    completion: ChatCompletion | None = getattr(exc, "completion", None)
    response = getattr(exc, "response", None)
    if completion is None and response is not None:
        completion = ChatCompletion.model_validate(response.json())
    if completion is None or not completion.choices:
        return None
    usage = completion.usage
    prompt, output = (usage.prompt_tokens, usage.completion_tokens) if usage is not None else (0, 0)
    return AIMessage(
        content=completion.choices[0].message.content or "",
        usage_metadata={"input_tokens": prompt, "output_tokens": output, "total_tokens": prompt + output},
    )


def _refusal_reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return f"the answer does not parse: {exc.errors()[0]['msg']}"
    if isinstance(exc, openai.LengthFinishReasonError):
        return "the answer was cut off at max_tokens"
    return "the provider's content filter withheld the answer"


def ask(
    model: BaseChatModel, messages: list[BaseMessage], schema: type[T], *, field: str, retries: int = 1
) -> Answer[T]:
    """Ask for an answer in `schema`; re-ask up to `retries` times if it does not parse, then give up
    with the raw text kept. Transient transport errors are retried; the others, and those that outlast
    the retries, raise `LLMCallError`: they are not the model's answer."""
    structured = model.with_structured_output(schema, include_raw=True)

    def attempt() -> tuple[AIMessage | None, Any, float | None, str | None]:
        try:
            # With include_raw, the answer is always {"raw", "parsed", "parsing_error"}.
            result = cast(dict[str, Any], structured.invoke(messages))
        except _SDK_REFUSALS as exc:
            return _refused_answer(exc), None, None, _refusal_reason(exc)
        message, parsed = result.get("raw"), result.get("parsed")
        if isinstance(parsed, schema) and message is not None:
            return message, parsed, answer_confidence(message, field), None
        return message, None, None, str(result.get("parsing_error") or "no answer in the expected format")

    return _with_retries(model, attempt, retries)


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
        parsed = VerifyAnswer.model_validate(
            {"answer": match.group(1).lower(), "evidence": match.group(2).strip()[:200]}
        )
        return message, parsed, yes_no_confidence(message, parsed.answer, match.start(1), match.end(1)), None

    return _with_retries(model, attempt, retries)
