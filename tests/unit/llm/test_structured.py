"""One call's usage and answer distribution, read off the message a provider returned."""

from __future__ import annotations

from langchain_core.messages import AIMessage

from mbre.llm.cache import HIT
from mbre.llm.structured import choice_probabilities, parse_choice, usage_of


def message(*, cached_by_server: int | None = None, from_cache: bool = False) -> AIMessage:
    usage = {"input_tokens": 300, "output_tokens": 1, "total_tokens": 301}
    if cached_by_server is not None:  # langchain-openai's form of `prompt_tokens_details.cached_tokens`
        usage["input_token_details"] = {"cache_read": cached_by_server}  # type: ignore[assignment]
    metadata = {"mbre_cache": HIT} if from_cache else {}
    return AIMessage(content="B", usage_metadata=usage, response_metadata=metadata)  # type: ignore[arg-type]


def test_the_prompt_tokens_the_server_reused_are_sent_but_not_processed():
    usage = usage_of(message(cached_by_server=250))
    assert (usage.prompt_tokens, usage.reused_prompt_tokens, usage.processed_prompt_tokens) == (300, 250, 50)
    assert usage.billed_prompt_tokens == 300  # a prefix cache saves time, not necessarily money


def test_without_a_server_report_every_prompt_token_was_processed():
    assert usage_of(message()).processed_prompt_tokens == 300


def test_an_answer_from_mbres_cache_processed_nothing_and_reused_nothing_now():
    usage = usage_of(message(cached_by_server=250, from_cache=True))
    assert usage.cached_prompt_tokens == 300
    assert usage.reused_prompt_tokens == usage.processed_prompt_tokens == 0


def test_the_distribution_comes_from_the_first_answer_tokens_alternatives():
    tokens = [
        {"token": " ", "logprob": 0.0, "top_logprobs": []},
        {
            "token": "B",
            "logprob": -0.5,
            "top_logprobs": [
                {"token": "B", "logprob": -0.5},
                {"token": " A", "logprob": -1.5},
                {"token": "b", "logprob": -2.0},  # not a letter option: letters are exact
                {"token": "Z", "logprob": -3.0},
            ],
        },
    ]
    answer = AIMessage(content="B", response_metadata={"logprobs": {"content": tokens}})
    probabilities = choice_probabilities(answer, ["A", "B", "C"])
    assert probabilities is not None
    a, b, c = probabilities
    assert c == 0 and abs(a + b - 1) < 1e-9 and b > a
    assert parse_choice("B.", ["A", "B", "C"]) == 1 and parse_choice("yes", ["Yes", "No"]) == 0
    assert parse_choice("Sorry,", ["A", "B"]) is None
