"""A real llama-server on loopback with the small 0.5B model (``llm``), joined through the machine's
registry as every mbre process joins it (in the session's private cache directory, see conftest).

They are never skipped: a missing package fails them with the LocalModelError install message.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from mbre.llm.local.registry import Registry
from mbre.llm.local.server import ServerSpec
from mbre.llm.local.shared import SharedServer, local_server
from tests.support.processes import alive, wait_until

SMALL = "qwen2.5-coder-0.5b"


class Verdict(BaseModel):
    """Structured answer with an enum field, decoded under the server's JSON-schema grammar."""

    relation: Literal["founded_by", "born_in", "none"] = Field(description="relation between the entities")


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
def test_structured_output_with_logprobs(small_server: SharedServer) -> None:
    import httpx
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        base_url=small_server.base_url,
        api_key="not-needed-local",
        http_client=httpx.Client(trust_env=False),  # an http_proxy in the environment must not see loopback
        model=SMALL,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
        max_tokens=64,
    )
    structured = llm.with_structured_output(Verdict, include_raw=True)
    result = structured.invoke(
        "Sentence: 'Steve Jobs founded Apple in 1976.' "
        "Which relation holds between Apple and Steve Jobs? Answer in JSON."
    )
    assert result["parsing_error"] is None
    assert isinstance(result["parsed"], Verdict)
    assert result["parsed"].relation in {"founded_by", "born_in", "none"}
    tokens = result["raw"].response_metadata["logprobs"]["content"]
    assert tokens, "one logprob entry per generated token"
    assert "".join(t["token"] for t in tokens).strip() == result["raw"].content.strip()
    for entry in tokens:
        assert entry["logprob"] <= 0
        assert 1 <= len(entry["top_logprobs"]) <= 3


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
