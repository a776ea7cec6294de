"""A real llama-server on loopback with the small 0.5B model (``llm``), joined through the machine's
registry as every mbre process joins it (in the session's private cache directory, see conftest).

They are never skipped: a missing package fails them with the LocalModelError install message.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from mbre.llm.local.registry import Registry
from mbre.llm.local.server import ServerSpec
from mbre.llm.local.shared import SharedServer, local_server
from mbre.llm.local.transport import following_clients
from mbre.llm.providers import TOP_LOGPROBS, MbreChatOpenAI
from mbre.llm.structured import ask_choice
from tests.support.processes import alive, wait_until

SMALL = "qwen2.5-coder-0.5b"


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of TCP sockets listening on ``port``, from /proc/net/tcp{,6} (Linux)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.add(address)
    return found


@pytest.fixture(scope="module")
def small_server() -> Iterator[SharedServer]:
    server = local_server(SMALL, slots=2, ctx_per_slot=2048)
    yield server
    server.release()


@pytest.mark.llm
def test_the_process_keeps_one_handle_per_server(small_server: SharedServer) -> None:
    again = local_server(SMALL, slots=2, ctx_per_slot=2048)
    assert again is small_server and alive(again.pid)


@pytest.mark.llm
def test_health_and_loopback_only(small_server: SharedServer) -> None:
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with no_proxy.open(f"{small_server.url}/health", timeout=5) as response:
        assert response.status == 200
    with no_proxy.open(f"{small_server.base_url}/models", timeout=5) as response:
        assert SMALL in {m["id"] for m in json.load(response)["data"]}
    assert small_server.base_url.startswith("http://127.0.0.1:")
    assert _listening_addresses(small_server.entry.port) == {"0100007F"}  # 127.0.0.1, nothing else


@pytest.mark.llm
def test_a_one_word_choice_and_its_distribution_from_the_first_token(small_server: SharedServer) -> None:
    client, async_client = following_clients(small_server)
    model = MbreChatOpenAI(
        model=SMALL,
        base_url=small_server.base_url,
        api_key="local",
        temperature=0,
        logprobs=True,
        top_logprobs=TOP_LOGPROBS,
        max_retries=0,
        http_client=client,
        http_async_client=async_client,
    )
    question = (
        "Sentence: 'Steve Jobs founded Apple in 1976.' Which relation holds between Apple and Steve Jobs?\n"
        "A. founded by\nB. born in\nC. none\nAnswer with the letter only."
    )
    answer = ask_choice(model, [HumanMessage(question)], ("A", "B", "C"), max_tokens=2)
    assert answer.parsed is not None, answer.raw
    probabilities = answer.parsed.probabilities
    assert probabilities is not None, "the server gave the first token's alternatives"
    assert len(probabilities) == 3 and abs(sum(probabilities) - 1) < 1e-6
    assert answer.confidence == probabilities[answer.parsed.index]
    assert answer.usage.calls == 1 and answer.usage.completion_tokens >= 1


@pytest.mark.llm
def test_the_server_stops_when_its_last_user_lets_go() -> None:
    spec = ServerSpec.resolve(SMALL, slots=1, ctx_per_slot=1024)
    user = SharedServer(spec)
    entry = user.entry
    assert alive(entry.pid) and alive(entry.supervisor)
    assert Registry(spec.key).read() == entry
    user.release()
    assert wait_until(lambda: not alive(entry.pid) and not alive(entry.supervisor), 20)
    assert Registry(spec.key).read() is None
