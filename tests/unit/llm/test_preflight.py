"""The check before the first sentence: a dead, wrong or key-refusing endpoint and a damaged cache fail the
run at once, naming what is wrong, and the check spends no tokens where the server lists its models. A
reply that is not a chat completion is a clear error on every call too."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from langchain_core.messages import HumanMessage

from mbre.errors import StorageError
from mbre.files import MASK
from mbre.llm.preflight import EndpointError, confidence_note, preflight
from mbre.llm.providers import chat_model, not_a_completion
from mbre.llm.retry import LLMCallError
from mbre.llm.settings import ModelSettings
from mbre.llm.structured import ask_choice
from mbre.prompts.render import probe_messages
from tests.support.openai_stub import Fault, stub_server

KEY = "sk-preflight-secret-5150"


def answer(messages, schema_name):
    return "Yes"


def settings(base_url: str, tmp_path, **overrides) -> ModelSettings:
    return ModelSettings(
        model="openai:stub-model", base_url=base_url, cache_path=str(tmp_path / "c.sqlite"), **overrides
    )


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def test_a_server_that_lists_its_models_is_checked_without_spending_a_token(tmp_path):
    with stub_server(answer) as server:
        source = preflight(settings(server.base_url, tmp_path), probe_messages())
        assert [r["path"] for r in server.model_requests] == ["/v1/models"] and not server.requests
        assert server.model_requests[0]["headers"]["authorization"] == f"Bearer {KEY}"
        # One question of one token found out that token probabilities come back.
        assert source == "logprobs" and len(server.probe_requests) == 1
        assert server.probe_requests[0]["body"]["max_completion_tokens"] == 1


def test_a_dead_endpoint_fails_in_seconds_naming_the_url(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"  # nothing listens there any more
    started = time.monotonic()
    with pytest.raises(EndpointError) as info:
        preflight(settings(url, tmp_path), probe_messages())
    assert time.monotonic() - started < 5
    assert str(info.value) == (
        f"cannot reach {url} ([Errno 111] Connection refused): is the server running, and is base_url right?"
    )


def test_a_web_page_instead_of_the_api_is_named(tmp_path):
    with stub_server(answer, models=Fault("html")) as server, pytest.raises(EndpointError) as info:
        preflight(settings(server.base_url, tmp_path), probe_messages())
    assert str(info.value) == (
        f"{server.base_url} does not answer like an OpenAI-compatible API (GET /models gave text/html: "
        "'<html><body><h1>Welcome to nginx!</h1></body></html>'): check base_url (it usually ends in /v1)"
    )


def test_a_refused_key_is_named_and_never_echoed(tmp_path):
    refusal = Fault("bad_request", status=401, message=f"Incorrect API key provided: {KEY}.")
    with stub_server(answer, models=refusal) as server, pytest.raises(EndpointError) as info:
        preflight(settings(server.base_url, tmp_path), probe_messages())
    assert str(info.value) == (
        f"{server.base_url} refused the API key (HTTP 401): Incorrect API key provided: {MASK}."
    )


def test_a_server_without_models_is_asked_one_token(tmp_path):
    with stub_server(answer, models=Fault("bad_request", status=404)) as server:
        preflight(settings(server.base_url, tmp_path), probe_messages())
        (request,) = server.requests
    assert request["body"]["max_completion_tokens"] == 1


def test_a_damaged_cache_fails_before_any_request(tmp_path):
    (tmp_path / "c.sqlite").write_bytes(b"not a database" * 100)
    with stub_server(answer) as server:
        with pytest.raises(StorageError, match="is damaged"):
            preflight(settings(server.base_url, tmp_path), probe_messages())
        assert not server.requests and not server.model_requests
        preflight(settings(server.base_url, tmp_path, cache=False), probe_messages())  # --no-cache runs


def test_a_reply_that_is_not_a_chat_completion_is_a_clear_error_on_every_call(tmp_path):
    with stub_server(answer, faults=lambda number, body: Fault("html")) as server:
        model = chat_model(settings(server.base_url, tmp_path, cache=False))
        for call in (
            lambda: ask_choice(model, [HumanMessage("hi")], ("A", "B"), max_tokens=2),
            lambda: ask_choice(model, [HumanMessage("hi")], ("yes", "no"), max_tokens=2),
        ):
            with pytest.raises(LLMCallError) as info:
                call()
            assert str(info.value).startswith(
                f"{server.base_url} answered with something that is not a chat completion (not JSON: "
                "'<html><body><h1>Welcome to nginx!</h1></body></html>'): check base_url"
            )
    assert not_a_completion(httpx.Response(200, json={"hello": "world"})) == (
        'JSON without choices: \'{"hello":"world"}\''
    )


def test_an_endpoint_without_token_probabilities_settles_on_sampling_or_is_refused(tmp_path):
    with stub_server(answer, logprobs=False) as server:
        assert preflight(settings(server.base_url, tmp_path), probe_messages()) == "sampled"
        with pytest.raises(EndpointError, match="returns no token probabilities, and confidence = logprobs"):
            preflight(settings(server.base_url, tmp_path, confidence="logprobs"), probe_messages())
        assert preflight(settings(server.base_url, tmp_path, confidence="none"), probe_messages()) == "none"
        # The second check's question was answered by the LLM-call cache; "none" asks nothing.
        assert len(server.probe_requests) == 1 and not server.requests


def test_the_console_line_says_how_sampled_answers_were_asked():
    same = confidence_note(
        "sampled", ModelSettings(model="openai:m", confidence_samples=5, confidence_order="same")
    )
    rotated = confidence_note("sampled", ModelSettings(model="openai:m"))
    assert same.startswith("confidence: sampled:5 (5 answers") and "rotated" not in same
    assert "no token probabilities" in same  # chosen by "auto", so the line says why
    assert "sampled:3 (3 answers" in rotated and "the options rotated from answer to answer" in rotated
