"""A real llama-server on loopback with the small 0.5B model (``llm``).

These use the default cache directory, so the model's assembly happens once per machine. They are never
skipped: a missing package fails them with the LocalModelError install message.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from mbre.llm.local import server as local
from mbre.llm.local.server import LocalServer

SMALL = "qwen2.5-coder-0.5b"


class Verdict(BaseModel):
    """Structured answer with an enum field, decoded under the server's JSON-schema grammar."""

    relation: Literal["founded_by", "born_in", "none"] = Field(description="relation between the entities")


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


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
def small_server() -> Iterator[LocalServer]:
    server = local.local_server(SMALL, slots=2, ctx_per_slot=2048)
    yield server
    server.stop()


@pytest.mark.llm
def test_registry_returns_the_same_running_server(small_server: LocalServer) -> None:
    assert small_server.running
    again = local.local_server(SMALL, slots=2, ctx_per_slot=2048)
    assert again is small_server and again.pid == small_server.pid


@pytest.mark.llm
def test_health_and_loopback_only(small_server: LocalServer) -> None:
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with no_proxy.open(f"{small_server.url}/health", timeout=5) as response:
        assert response.status == 200
    with no_proxy.open(f"{small_server.base_url}/models", timeout=5) as response:
        assert SMALL in {m["id"] for m in json.load(response)["data"]}
    assert small_server.base_url.startswith("http://127.0.0.1:")
    assert _listening_addresses(small_server.port) == {"0100007F"}  # 127.0.0.1, nothing else


@pytest.mark.llm
def test_structured_output_with_logprobs(small_server: LocalServer) -> None:
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
def test_stop_ends_the_process() -> None:
    with LocalServer(SMALL, slots=1, ctx_per_slot=1024) as server:
        pid = server.pid
        assert pid is not None and _pid_exists(pid)
    assert not server.running and not _pid_exists(pid)
    server.stop()  # idempotent
