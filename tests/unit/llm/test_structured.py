"""One call's usage and answer distribution, read off the message a provider returned."""

from __future__ import annotations

import math

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from mbre.llm.cache import HIT
from mbre.llm.structured import (
    agreement,
    answer_tokens,
    ask_sampled,
    ask_verbalized,
    choice_probabilities,
    parse_choice,
    raw_text,
    stated_confidence,
    usage_of,
)
from tests.support.fakes import Reply, ScriptedChatModel, text_of


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


def _alternatives(a: float) -> list[dict]:
    """One answer token "A" whose alternatives give A `a` and B the rest, in OpenAI's token shape."""
    top = [{"token": "A", "logprob": math.log(a)}, {"token": "B", "logprob": math.log(1 - a)}]
    return [{"token": "A", "logprob": math.log(a), "top_logprobs": top}]


@pytest.mark.parametrize(
    "metadata",
    [
        {"logprobs": {"content": _alternatives(0.8)}},  # OpenAI's (and llama-server's)
        {"logprobs": _alternatives(0.8)},  # langchain-ollama's: the streamed tokens as a list
        {"logprobs_result": _alternatives(0.8)},  # langchain-google-vertexai's
    ],
    ids=["openai", "ollama", "vertex"],
)
def test_every_providers_token_shape_gives_the_same_distribution(metadata):
    answer = AIMessage(content="A", response_metadata=metadata)
    assert answer_tokens(answer)[0]["token"] == "A"
    assert choice_probabilities(answer, ["A", "B"]) == pytest.approx((0.8, 0.2))


def test_no_token_probabilities_is_no_distribution():
    assert (
        choice_probabilities(AIMessage(content="A", response_metadata={"logprobs": None}), ["A", "B"]) is None
    )


def test_agreement_reads_unanimity_as_strong_not_certain():
    assert agreement([0, 0, 0, 0, 0], 2) == pytest.approx((5.5 / 6, 0.5 / 6))
    assert agreement([0, 1, 0], 3) == pytest.approx((2.5 / 4.5, 1.5 / 4.5, 0.5 / 4.5))


def test_sampled_answers_take_the_most_frequent_and_their_agreement():
    answers = iter(["No", "Yes", "Yes", "maybe", "Yes"])
    model = ScriptedChatModel(responder=lambda messages: Reply(next(answers)))
    question = [HumanMessage("Is it?")]
    answer = ask_sampled([model] * 4, [question] * 4, ("Yes", "No"), max_tokens=2, retries=1)
    assert answer.parsed is not None and answer.parsed.index == 0  # 3 yes (one after a re-ask) against 1 no
    assert answer.confidence == pytest.approx(3.5 / 5) and answer.source == "sampled:4"
    assert answer.usage.calls == 5


def test_sampled_answers_that_never_parse_abstain():
    model = ScriptedChatModel(responder=lambda messages: Reply("perhaps"))
    answer = ask_sampled([model] * 3, [[HumanMessage("Is it?")]] * 3, ("Yes", "No"), max_tokens=2, retries=0)
    assert answer.parsed is None and answer.raw == "perhaps" and answer.confidence is None


def test_sampled_answers_count_for_the_choice_each_sample_showed_at_that_letter():
    answers = iter(["A", "C", "B"])
    model = ScriptedChatModel(responder=lambda messages: Reply(next(answers)))
    orders = [(0, 1, 2), (1, 0, 2), (1, 0, 2)]
    questions = [[HumanMessage(f"Which? (order {k})")] for k in range(3)]
    answer = ask_sampled([model] * 3, questions, ("A", "B", "C"), max_tokens=2, orders=orders)
    # A of the first order and B of the third are both choice 0; C is choice 2 in every order.
    assert answer.parsed is not None and answer.parsed.index == 0 and answer.raw == "A"
    assert answer.parsed.probabilities == pytest.approx((2.5 / 4.5, 0.5 / 4.5, 1.5 / 4.5))
    assert [text_of(messages) for messages in model.calls] == [text_of(q) for q in questions]


def test_a_forced_tool_calls_answer_is_the_answer():
    message = AIMessage(content=[], tool_calls=[{"name": "answer", "args": {"answer": "C"}, "id": "t1"}])
    assert raw_text(message) == "C"


def test_a_constrained_answer_that_states_its_confidence_reads_as_a_verbalized_one():
    args = {"answer": "C", "confidence": 85}
    tool = AIMessage(content=[], tool_calls=[{"name": "answer", "args": args, "id": "t1"}])
    assert raw_text(tool) == "C 85%"
    assert raw_text(AIMessage(content='{"answer": "no", "confidence": 60.5}')) == "no 60.5%"
    assert stated_confidence(raw_text(tool)) == pytest.approx(0.85)
    assert raw_text(AIMessage(content='"B"')) == '"B"'  # an enum's JSON string is parsed as before
    assert raw_text(AIMessage(content="{not json")) == "{not json"


@pytest.mark.parametrize(
    "text, stated",
    [
        ("B 80%", 0.8),
        ("Yes, 90%", 0.9),
        ("no 35 %", 0.35),
        ("A (0.7)", 0.7),
        ("C 62", 0.62),  # a number above 1 without a sign is a percentage
        ("Yes. 100 percent", 1.0),
        ("B 0%", 0.0),
        ("B", None),  # no number
        ("Yes, I am sure", None),
        ("B 150%", None),  # out of range
        ("No -20%", None),
        ("B 250", None),
    ],
)
def test_a_stated_confidence_is_the_first_number_after_the_answer(text, stated):
    assert stated_confidence(text) == (pytest.approx(stated) if stated is not None else None)


def scripted(*texts: str) -> ScriptedChatModel:
    answers = iter(texts)
    return ScriptedChatModel(responder=lambda messages: Reply(next(answers)))


def test_a_verbalized_answer_gives_its_option_the_stated_confidence_and_shares_the_rest():
    answer = ask_verbalized(scripted("B 70%"), [HumanMessage("Which?")], ("A", "B", "C", "D"), max_tokens=10)
    assert answer.parsed is not None and answer.parsed.index == 1
    assert answer.parsed.probabilities == pytest.approx((0.1, 0.7, 0.1, 0.1))
    assert answer.confidence == pytest.approx(0.7) and answer.source == "verbalized"
    assert answer.usage.calls == 1
    answer = ask_verbalized(scripted("No, 90%"), [HumanMessage("Is it?")], ("yes", "no"), max_tokens=10)
    assert answer.parsed is not None and answer.parsed.probabilities == pytest.approx((0.1, 0.9))


def test_an_unstated_or_impossible_confidence_is_asked_again():
    model = scripted("B", "B 200%", "C 60%")
    answer = ask_verbalized(model, [HumanMessage("Which?")], ("A", "B", "C"), max_tokens=10, retries=2)
    assert answer.parsed is not None and answer.parsed.index == 2 and answer.confidence == pytest.approx(0.6)
    assert answer.usage.calls == 3 and answer.raw == "C 60%"


def test_an_answer_that_never_states_a_confidence_counts_without_one():
    model = scripted("perhaps B", "A, quite sure", "no idea")
    answer = ask_verbalized(model, [HumanMessage("Which?")], ("A", "B"), max_tokens=10, retries=2)
    # The last answer that named an option counts; no probability is made up for it.
    assert answer.parsed is not None and answer.parsed.index == 0 and answer.parsed.probabilities is None
    assert answer.confidence is None and answer.source == "none" and answer.raw == "A, quite sure"
    assert answer.error is None and answer.usage.calls == 3
    never = ask_verbalized(scripted("perhaps", "maybe"), [HumanMessage("?")], ("A", "B"), max_tokens=10)
    assert never.parsed is None and never.raw == "maybe" and never.error is not None
