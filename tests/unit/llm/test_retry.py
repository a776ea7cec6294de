"""Transient-error retries, against the stub server injecting faults over real HTTP on loopback."""

from __future__ import annotations

import email.utils
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from mbre.errors import MbreError
from mbre.graph.context import MbreContext
from mbre.llm.providers import MbreChatOpenAI, chat_model, chat_model_for
from mbre.llm.retry import LLMCallError, Retrier, retry_kind
from mbre.llm.settings import ModelSettings
from mbre.llm.structured import Answer, Choice, ask_choice
from tests.support.openai_stub import Fault, StubServer, stub_server

MESSAGES = [SystemMessage("Pick the relation: A. cause, B. effect, C. none."), HumanMessage("Smoke came.")]
YES_NO = [HumanMessage("Smoke came from the fire. Is smoke the effect of fire? Answer yes or no.")]
NOW = 1_700_000_000.0


def answer(messages: list[dict[str, Any]], schema_name: str) -> str:
    return "Yes" if "yes or no" in messages[-1]["content"] else "B"


def ask(model: MbreChatOpenAI, retries: int = 1) -> Answer[Choice]:
    return ask_choice(model, MESSAGES, ("A", "B", "C"), max_tokens=2, retries=retries)


def ask_yes_no(model: MbreChatOpenAI) -> Answer[Choice]:
    return ask_choice(model, YES_NO, ("yes", "no"), max_tokens=2)


def model_with(
    server: StubServer, *, timeout: float = 10.0, **retrier: Any
) -> tuple[MbreChatOpenAI, list[float]]:
    """A real chat model for the stub, without cache, whose retrier sleeps into a list on a fixed clock."""
    sleeps: list[float] = []
    retrier = {"base_seconds": 0.5, "clock": lambda: NOW, "jitter": lambda: 1.0, **retrier}
    model = chat_model(
        ModelSettings(model="openai:m", base_url=server.base_url, cache=False, timeout=timeout)
    )
    return model.model_copy(update={"retrier": Retrier(sleep=sleeps.append, **retrier)}), sleeps


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Fault("rate_limited"), "rate_limited"),
        (Fault("server_error"), "server_error"),
        (Fault("server_error", status=503), "server_error"),
        (Fault("reset"), "connection"),
        (Fault("stall", seconds=3), "timeout"),
    ],
)
def test_each_transient_fault_is_retried_and_counted(fault, kind):
    with stub_server(answer, faults={0: fault, 1: fault}) as server:
        model, sleeps = model_with(server, timeout=0.5)
        result = ask(model)
        assert server.injected == {fault.kind: 2} and len(server.requests) == 3
    assert result.parsed is not None and result.parsed.index == 1
    assert result.usage.calls == 1 and result.usage.retries == 2
    assert model.retrier.stats() == {kind: 2}
    assert sleeps == [0.5, 1.0]  # exponential backoff (the jitter is pinned to its top)


def test_yes_no_questions_are_retried_too():
    with stub_server(answer, faults={0: Fault("server_error", status=502)}) as server:
        model, _ = model_with(server)
        result = ask_yes_no(model)
        assert len(server.requests) == 2
    assert result.parsed is not None and result.parsed.index == 0 and result.usage.retries == 1


@pytest.mark.parametrize(
    ("fault", "waited"),
    [
        (Fault("rate_limited", retry_after="7"), 7.0),
        (Fault("rate_limited", retry_after=email.utils.formatdate(NOW + 12, usegmt=True)), 12.0),
        (Fault("rate_limited", retry_after_ms="1500", retry_after="9"), 1.5),
        (Fault("server_error", status=503, retry_after="2"), 2.0),
        (Fault("rate_limited", retry_after="86400"), 300.0),  # bounded by retry_after_cap_seconds
    ],
)
def test_retry_after_is_honoured(fault, waited):
    with stub_server(answer, faults={0: fault}) as server:
        model, sleeps = model_with(server)
        ask(model)
        assert len(server.requests) == 2
    assert sleeps == [waited]


def test_a_bad_request_fails_fast_with_the_providers_message():
    refusal = Fault("bad_request", message="Invalid value for 'top_logprobs': this model has none.")
    with stub_server(answer, faults=lambda number, body: refusal) as server:
        model, sleeps = model_with(server)
        with pytest.raises(LLMCallError, match=r"HTTP 400.*Invalid value for 'top_logprobs'") as info:
            ask(model)
        assert len(server.requests) == 1
    assert info.value.status == 400 and info.value.retries == 0
    assert sleeps == [] and model.retrier.stats() == {}


def test_mbres_own_error_under_a_connection_error_is_final_with_its_message():
    # Older openai SDKs wrap whatever the HTTP transport raises as a connection error, with it as the cause.
    lost = openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions"))
    lost.__cause__ = MbreError("the embedded server died 3 times while answering one request")
    sleeps: list[float] = []

    def send() -> None:
        raise lost

    with pytest.raises(
        LLMCallError, match=r"refused the request \(APIConnectionError\): the embedded server died"
    ):
        Retrier(sleep=sleeps.append).call(send)
    assert sleeps == []
    plain = openai.APIConnectionError(request=lost.request)
    assert retry_kind(plain) == "connection" and retry_kind(lost) is None


def test_retries_stop_at_the_bound_and_the_backoff_at_its_cap():
    with stub_server(answer, faults=lambda number, body: Fault("server_error", status=503)) as server:
        model, sleeps = model_with(server, max_retries=4, base_seconds=1.0, cap_seconds=3.0)
        with pytest.raises(
            LLMCallError, match=r"gave up after 4 retries \(last failure: server_error\): injected fault"
        ) as info:
            ask_yes_no(model)
        assert len(server.requests) == 5
    assert info.value.status == 503 and info.value.retries == 4
    assert sleeps == [1.0, 2.0, 3.0, 3.0]
    assert model.retrier.stats() == {"server_error": 4}


def test_jitter_spreads_the_waits_below_the_backoff():
    with stub_server(answer, faults={0: Fault("reset"), 1: Fault("reset")}) as server:
        model, sleeps = model_with(server, jitter=lambda: 0.0)
        ask(model)
        assert len(server.requests) == 3
    assert sleeps == [0.25, 0.5]  # half the backoff at the bottom of the jitter


def test_a_malformed_answer_is_reasked_not_retried():
    with stub_server(answer, faults={0: Fault("malformed")}) as server:
        model, sleeps = model_with(server)
        result = ask_choice(model, YES_NO, ("yes", "no"), max_tokens=2, retries=1)
        assert len(server.requests) == 2
    assert result.parsed is not None and result.usage.calls == 2 and result.usage.retries == 0
    assert result.usage.completion_tokens > 0 and sleeps == []  # the cut-off answer was billed and counted

    with stub_server(answer, faults=lambda number, body: Fault("malformed")) as server:
        model, _ = model_with(server)
        result = ask_choice(model, YES_NO, ("yes", "no"), max_tokens=2, retries=1)
    assert result.parsed is None and result.raw == "Y"  # an abstention keeps what came back
    assert result.error is not None and "names none of yes, no" in result.error


def test_the_context_sets_the_retries_and_turns_the_sdks_own_off():
    with stub_server(answer) as server:
        ctx = MbreContext(model="openai:m", base_url=server.base_url, max_retries=2, retry_base_seconds=0.01)
        model = chat_model_for(ctx, "extraction")
    assert model.max_retries == 0  # the openai SDK never retries unseen
    assert (model.retrier.max_retries, model.retrier.base_seconds) == (2, 0.01)
