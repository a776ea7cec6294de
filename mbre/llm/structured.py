"""One LLM call with a checked answer: its distribution from logprobs, usage, and a re-ask on a bad answer.

Every question about a relation is multiple choice, answered by one word: an option letter for a group
of relations, yes or no for a verification (the entity finder's list is read by `ask_text`). So every
node talks to models through `ask_choice` (or, for models without token probabilities, `ask_sampled`,
built on it, and `ask_verbalized`, which shares its parsing and re-asks), and parse failures,
abstentions, transient-error retries, cache hits and cost accounting behave the same for every question
and provider; and one short answer yields the probability of every choice, not just a label.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable
from langchain_core.runnables.config import ensure_config, merge_configs

from mbre.llm.cache import is_cache_hit, reask
from mbre.llm.providers import answer_limit, constrained
from mbre.llm.ratelimit import RateLimiter
from mbre.llm.retry import Retrier
from mbre.schemas.results import Usage

T = TypeVar("T")
_FIRST_WORD = re.compile(r"^\W*([A-Za-z]+)")
#: For chat models that carry no Retrier of their own (test doubles, custom models).
_DEFAULT_RETRIER = Retrier()


@dataclass(frozen=True)
class Answer(Generic[T]):
    """What one (possibly re-asked) call produced."""

    parsed: T | None
    """None when no attempt parsed: the caller records an abstention."""
    raw: str
    """The last raw output, kept so an abstention can be inspected."""
    confidence: float | None
    """The model's probability of its answer; None when the provider gave no logprobs."""
    usage: Usage
    error: str | None = None
    source: str = "none"
    """Where the probabilities come from: `logprobs`, `sampled:K`, `verbalized`, or `none` (the answer
    alone)."""


def raw_text(message: AIMessage) -> str:
    """The model's output as text: a forced tool call's answer (see `constrained`), else its content; a
    constrained answer that states a confidence (a tool call's arguments, or a JSON object) as the text
    a verbalized answer would be (`B 80%`)."""
    for call in message.tool_calls:
        if "answer" in call["args"]:
            return _stated_text(call["args"])
    content = message.content if isinstance(message.content, str) else str(message.content)
    if content.lstrip().startswith("{"):
        try:
            answer = json.loads(content)
        except ValueError:
            return content
        if isinstance(answer, dict) and "answer" in answer:
            return _stated_text(answer)
    return content


def _stated_text(answer: Mapping[str, Any]) -> str:
    if "confidence" not in answer:
        return str(answer["answer"])
    return f"{answer['answer']} {answer['confidence']}%"


def usage_of(message: AIMessage | None, *, retries: int = 0) -> Usage:
    """One call's usage. A call the LLM-call cache answered still counts its tokens (they were asked
    for), and counts them again as cached (they were not billed)."""
    meta: Mapping[str, Any] = (message.usage_metadata or {}) if message is not None else {}
    prompt, completion = meta.get("input_tokens", 0), meta.get("output_tokens", 0)
    hit = is_cache_hit(message)
    # The server's prompt cache (OpenAI's `prompt_tokens_details.cached_tokens`, which llama-server reports
    # too); an answer from mbre's own cache reused nothing now.
    reused = (meta.get("input_token_details") or {}).get("cache_read") or 0
    return Usage(
        calls=1,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_calls=int(hit),
        cached_prompt_tokens=prompt if hit else 0,
        cached_completion_tokens=completion if hit else 0,
        retries=retries,
        reused_prompt_tokens=0 if hit else reused,
    )


def answer_tokens(message: AIMessage) -> list[dict[str, Any]]:
    """The answer's tokens, each `{"token", "logprob", "top_logprobs": [{"token", "logprob"}]}`, from the
    shape the provider's integration leaves them in: OpenAI's `logprobs.content`, Ollama's `logprobs`
    list, Vertex's `logprobs_result`. Empty when the provider gave none."""
    metadata = message.response_metadata or {}
    found = metadata.get("logprobs")
    if isinstance(found, dict):
        found = found.get("content")
    if not found:
        found = metadata.get("logprobs_result")
    if not isinstance(found, list):
        return []
    # The ollama client leaves its own pydantic `Logprob` objects there, until a cache round trip.
    plain = [token.model_dump() if hasattr(token, "model_dump") else token for token in found]
    return [token for token in plain if isinstance(token, dict)]


def _word(token: str) -> str:
    return token.strip(" \t\n\"'.,:;()[]*")


def choice_probabilities(message: AIMessage, choices: Sequence[str]) -> tuple[float, ...] | None:
    """The model's distribution over `choices` at its first answer token, from that token's alternatives
    (`top_logprobs`): the mass of each choice's spellings (`A`, ` A`, `Yes`, `yes`), normalised over the
    choices. None when the provider gave no alternatives; then only the answer itself is known."""
    index = {choice.lower() if len(choice) > 1 else choice: i for i, choice in enumerate(choices)}
    for token in answer_tokens(message):
        if not _word(token.get("token", "")):
            continue  # leading whitespace carries no answer
        mass = [0.0] * len(choices)
        for alternative in token.get("top_logprobs") or []:
            word = _word(alternative["token"])
            key = word if len(word) == 1 else word.lower()
            if key in index:
                mass[index[key]] += math.exp(alternative["logprob"])
        total = sum(mass)
        return tuple(m / total for m in mass) if total > 0 else None
    return None


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


def _with_retries(model: BaseChatModel, attempt: _Attempt, retries: int, source: str = "logprobs") -> Answer:
    """Ask, and re-ask up to `retries` times while the answer does not parse. Each ask is retried on
    transient errors by the model's Retrier, and keyed apart in the cache by its re-ask number. An answer
    with a confidence has `source`; one without, "none"."""
    retrier = _retrier(model)
    usage, raw, error = Usage(), "", None
    for number in range(retries + 1):
        with reask(number):
            (message, parsed, confidence, error), retried = retrier.call(attempt)
        _debit(model, message)
        usage = usage + usage_of(message, retries=retried)
        raw = raw_text(message) if message is not None else ""
        if parsed is not None:
            found = source if confidence is not None else "none"
            return Answer(parsed=parsed, raw=raw, confidence=confidence, usage=usage, source=found)
    return Answer(parsed=None, raw=raw, confidence=None, usage=usage, error=error)


@dataclass(frozen=True)
class Choice:
    """A parsed one-word answer to a multiple-choice question."""

    index: int
    """The choice the model answered with."""
    probabilities: tuple[float, ...] | None
    """Its distribution over all the choices (see `choice_probabilities`); None without logprobs."""


def parse_choice(text: str, choices: Sequence[str]) -> int | None:
    """Which choice a one-word answer names: its first word, letters exactly, words in any case."""
    match = _FIRST_WORD.match(text)
    if match is None:
        return None
    word = match.group(1)
    for i, choice in enumerate(choices):
        if word == choice or (len(choice) > 1 and word.lower() == choice.lower()):
            return i
    return None


def ask_choice(
    model: BaseChatModel,
    messages: list[BaseMessage],
    choices: Sequence[str],
    *,
    max_tokens: int,
    retries: int = 1,
    metadata: Mapping[str, Any] | None = None,
) -> Answer[Choice]:
    """Ask a question answered by one word out of `choices` (option letters, or yes/no): the answer and
    the model's probability of every choice come from the same first token, so one call of a token or
    two measures the whole distribution. Re-asks up to `retries` times if the answer names no choice,
    then gives up with the raw text kept. Transient transport errors are retried; the others, and those
    that outlast the retries, raise `LLMCallError`: they are not the model's answer. `metadata` is added
    to the run's (callbacks and the trace see it)."""
    ask = _asker(constrained(model, choices), model, messages, max_tokens, metadata)

    def attempt() -> tuple[AIMessage | None, Any, float | None, str | None]:
        message = ask()
        index = parse_choice(raw_text(message), choices)
        if index is None:
            return message, None, None, _names_none(choices)
        probabilities = choice_probabilities(message, choices)
        confidence = probabilities[index] if probabilities is not None else None
        return message, Choice(index=index, probabilities=probabilities), confidence, None

    return _with_retries(model, attempt, retries)


def _asker(
    asked: Runnable[LanguageModelInput, BaseMessage],
    model: BaseChatModel,
    messages: list[BaseMessage],
    max_tokens: int,
    metadata: Mapping[str, Any] | None,
) -> Callable[[], AIMessage]:
    """One call of the question: `asked` (the model, constrained or not) with the answer's token limit and
    `metadata` added to the run's (callbacks and the trace see it)."""
    config = merge_configs(ensure_config(), {"metadata": dict(metadata)}) if metadata else None
    limit = answer_limit(model, max_tokens)

    def ask() -> AIMessage:
        message = asked.invoke(messages, config, **limit)
        if not isinstance(message, AIMessage):
            raise TypeError(f"{type(model).__name__} answered with a {type(message).__name__}")
        return message

    return ask


def _names_none(choices: Sequence[str]) -> str:
    return f"the answer names none of {', '.join(choices)}"


#: A list item's marker at the start of a line: `- `, `* `, `1. `, `2) `.
_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")


def list_item(line: str) -> str:
    """A line of a free-text answer without the list marker a model may put before it."""
    return _LIST_ITEM.sub("", line)


_STATED = re.compile(r"(-?\d+(?:\.\d+)?)\s*(%|percent)?", flags=re.IGNORECASE)


def stated_confidence(text: str) -> float | None:
    """The confidence a verbalized answer states after its word ("B 80%", "Yes, 90%", "A (0.7)"): the first
    number after it, a percentage when it has a % sign or is above 1, else a probability. None when there
    is no number or it is outside 0 to 100%."""
    word = _FIRST_WORD.match(text)
    number = _STATED.search(text, word.end() if word else 0)
    if number is None:
        return None
    value = float(number.group(1))
    if number.group(2) or value > 1:
        value /= 100
    return value if 0 <= value <= 1 else None


def stated_distribution(index: int, confidence: float, choices: int) -> tuple[float, ...]:
    """A stated confidence as a distribution over the choices: the answer has it, the other choices share
    the rest evenly (the model said nothing about them), so what reads a distribution reads this one."""
    rest = (1 - confidence) / (choices - 1)
    return tuple(confidence if i == index else rest for i in range(choices))


def ask_verbalized(
    model: BaseChatModel,
    messages: list[BaseMessage],
    choices: Sequence[str],
    *,
    max_tokens: int,
    retries: int = 1,
    metadata: Mapping[str, Any] | None = None,
) -> Answer[Choice]:
    """confidence="verbalized": ask once for the answer and a stated confidence (`messages` ask for both,
    see `mbre.prompts.render.verbalized_messages`), for models without token probabilities. The word is
    parsed as `ask_choice` parses it, and the stated confidence is its probability
    (`stated_distribution`). An answer whose confidence is missing or outside 0 to 100% is re-asked like
    one that names no choice; when no re-ask states one, the last answer that named a choice counts
    without a confidence (source "none"), and only when none named one is it an abstention. Where the
    provider forces answers onto the options, the forced answer is an object that states the confidence
    too (`constrained`, `stated`)."""
    ask = _asker(constrained(model, choices, stated=True), model, messages, max_tokens, metadata)
    unsure: list[tuple[int, str]] = []

    def attempt() -> tuple[AIMessage | None, Any, float | None, str | None]:
        message = ask()
        text = raw_text(message)
        index = parse_choice(text, choices)
        if index is None:
            return message, None, None, _names_none(choices)
        confidence = stated_confidence(text)
        if confidence is None:
            unsure.append((index, text))
            return message, None, None, "the answer states no confidence from 0 to 100%"
        return message, Choice(index, stated_distribution(index, confidence, len(choices))), confidence, None

    answer = _with_retries(model, attempt, retries, source="verbalized")
    if answer.parsed is None and unsure:
        index, raw = unsure[-1]
        return dataclasses.replace(
            answer, parsed=Choice(index=index, probabilities=None), raw=raw, error=None, source="none"
        )
    return answer


def ask_text(
    model: BaseChatModel,
    messages: list[BaseMessage],
    parse: Callable[[str], T | None],
    *,
    max_tokens: int,
    retries: int = 1,
) -> Answer[T]:
    """Ask a question answered in free text that `parse` reads (None: unreadable), with the re-asks,
    retries and accounting of `ask_choice`."""

    def attempt() -> tuple[AIMessage | None, Any, float | None, str | None]:
        message = model.invoke(messages, **answer_limit(model, max_tokens))
        parsed = parse(raw_text(message))
        return message, parsed, None, None if parsed is not None else "the answer could not be read"

    return _with_retries(model, attempt, retries)


def without_probabilities(answer: Answer[Choice]) -> Answer[Choice]:
    """confidence="none": the answer alone, whatever probabilities came with it."""
    parsed = Choice(index=answer.parsed.index, probabilities=None) if answer.parsed is not None else None
    return dataclasses.replace(answer, parsed=parsed, confidence=None, source="none")


def agreement(answers: Sequence[int], choices: int) -> tuple[float, ...]:
    """K answers as a distribution over the choices: each choice's count with half an answer added to
    every choice (Jeffreys' prior), normalised. Unanimity then reads as strong, not certain (5 of 5 yes:
    0.92), so no sampled answer claims a certainty that K answers cannot show."""
    counts = [0.5] * choices
    for index in answers:
        counts[index] += 1
    total = sum(counts)
    return tuple(count / total for count in counts)


def ask_sampled(
    models: Sequence[BaseChatModel],
    messages: Sequence[list[BaseMessage]],
    choices: Sequence[str],
    *,
    max_tokens: int,
    retries: int = 1,
    metadata: Mapping[str, Any] | None = None,
    orders: Sequence[Sequence[int]] | None = None,
) -> Answer[Choice]:
    """Ask sample k's question (`messages[k]`) once of model k (the same model at a temperature, one per
    sample: see `mbre.llm.providers.sampling_models`), and take the answers' agreement as the
    probabilities (`agreement`): for providers that return no token probabilities. `orders[k]`: the
    choices in the order sample k showed them, so its answer at position j is choice `orders[k][j]`;
    None: every sample showed them as given. The answer is the most frequent choice, the earliest on a
    tie; an abstention only when no sample parses."""
    answers = [
        ask_choice(model, question, choices, max_tokens=max_tokens, retries=retries, metadata=metadata)
        for model, question in zip(models, messages, strict=True)
    ]
    usage = sum((answer.usage for answer in answers), Usage())
    source = f"sampled:{len(models)}"
    shown = orders or [range(len(choices))] * len(answers)
    picks = [
        (order[answer.parsed.index], answer)
        for answer, order in zip(answers, shown, strict=True)
        if answer.parsed is not None
    ]
    if not picks:
        last = answers[-1]
        return Answer(
            parsed=None, raw=last.raw, confidence=None, usage=usage, error=last.error, source=source
        )
    picked = [choice for choice, _ in picks]
    probabilities = agreement(picked, len(choices))
    index = max(picked, key=lambda i: (probabilities[i], -picked.index(i)))
    raw = next(answer.raw for choice, answer in picks if choice == index)
    return Answer(
        parsed=Choice(index=index, probabilities=probabilities),
        raw=raw,
        confidence=probabilities[index],
        usage=usage,
        source=source,
    )
