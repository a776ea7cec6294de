"""One server per machine, without a model: the registry, the supervisor and the following HTTP clients,
around a stand-in llama-server (tests/support/fake_llama_server.py) run by the real supervisor process.
tests/integration/test_shared_server.py does the same with the real server and model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from langchain_core.messages import HumanMessage

from mbre.llm.local import server as local_server_module
from mbre.llm.local.models import LocalModelError
from mbre.llm.local.registry import Entry, Registry
from mbre.llm.local.server import KEEP_LOGS, ServerSpec, free_port
from mbre.llm.local.shared import SharedServer
from mbre.llm.local.transport import LocalServerLost, following_clients
from mbre.llm.providers import MbreChatOpenAI
from mbre.llm.retry import Retrier
from mbre.llm.structured import ask_choice
from tests.support.data import ROOT
from tests.support.processes import alive, wait_until

FAKE = ROOT / "tests" / "support" / "fake_llama_server.py"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "Is it?"}]}


def _binary(path: Path, body: str) -> str:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServerSpec:
    """A spec whose binary is the stand-in server, in a cache directory of this test's own."""
    monkeypatch.setenv("MBRE_CACHE_DIR", str(tmp_path / "cache"))
    binary = _binary(tmp_path / "llama-server", f'exec "{sys.executable}" "{FAKE}" "$@"')
    return ServerSpec(
        model="fake",
        model_sha256="0" * 64,
        model_file=str(tmp_path / "model.gguf"),
        binary=binary,
        slots=1,
        ctx_per_slot=512,
        threads=1,
    )


@pytest.fixture
def users(spec: ServerSpec) -> Iterator[Callable[[], SharedServer]]:
    """Makes users of the spec's server in this process; at the end each lets go, and the supervisor
    must then stop the server and remove the entry on its own."""
    made: list[SharedServer] = []

    def make() -> SharedServer:
        made.append(SharedServer(spec, startup_seconds=20))
        return made[-1]

    yield make
    entry = Registry(spec.key).read()
    for user in made:
        user.release()
    if entry is not None:
        assert wait_until(lambda: not alive(entry.supervisor) and not alive(entry.pid), 15)


def _post(server: SharedServer) -> httpx.Response:
    client, _ = following_clients(server)
    with client:
        return client.post(f"{server.base_url}/chat/completions", json=CHAT, timeout=30)


def _other_user(spec: ServerSpec) -> subprocess.Popen[str]:
    """Another process using the server: it prints the server's pid, then waits to be killed."""
    code = (
        "import sys, time\n"
        "from mbre.llm.local.server import ServerSpec\n"
        "from mbre.llm.local.shared import SharedServer\n"
        "server = SharedServer(ServerSpec.from_json(sys.argv[1]))\n"
        "print(server.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    return subprocess.Popen([sys.executable, "-c", code, spec.to_json()], stdout=subprocess.PIPE, text=True)


def test_processes_share_one_server_which_stops_when_the_last_user_is_sigkilled(spec, users):
    mine = users()
    entry = mine.entry
    other = _other_user(spec)
    try:
        assert other.stdout is not None and int(other.stdout.readline()) == entry.pid
        mine.release()
        time.sleep(2)  # four of the supervisor's polls
        assert alive(entry.pid), "the other process still uses the server"
        other.kill()  # SIGKILL: no exit hook of it runs
        other.wait()
        assert wait_until(lambda: not alive(entry.pid) and not alive(entry.supervisor), 15)
        assert Registry(spec.key).read() is None
    finally:
        other.kill()
        other.wait()


def test_a_stale_entry_is_replaced(spec, users):
    dead = subprocess.Popen(["true"])  # only its pid matters, and it is dead
    dead.wait()
    stale = Entry(
        port=free_port(),
        pid=dead.pid,
        supervisor=dead.pid,
        model=spec.model,
        model_sha256=spec.model_sha256,
        args=spec.arguments(),
        log="old.log",
    )
    Registry(spec.key).write(stale)
    server = users()
    assert server.entry.supervisor != dead.pid and alive(server.entry.supervisor)
    assert _post(server).json()["choices"][0]["message"]["content"] == "yes"


def test_a_server_that_dies_is_started_again_and_the_requests_in_flight_are_sent_again(
    spec, users, monkeypatch
):
    monkeypatch.setenv("FAKE_LLAMA_DELAY", "1.5")
    server = users()
    first = server.entry
    answers: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: answers.append(_post(server))) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.7)  # the three requests are in flight
    os.kill(first.pid, signal.SIGKILL)
    for thread in threads:
        thread.join(60)
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    again = server.entry
    assert again.pid != first.pid and again.supervisor == first.supervisor
    assert again.port == first.port and again.restarts == 1  # same port: clients keep their base URL


def test_an_idle_server_stops_and_the_next_request_starts_a_new_one(spec, users, monkeypatch):
    monkeypatch.setenv("MBRE_LOCAL_IDLE_SECONDS", "1")
    server = users()
    first = server.entry
    assert _post(server).status_code == 200
    assert wait_until(lambda: not alive(first.supervisor) and not alive(first.pid), 15)
    assert Registry(spec.key).read() is None
    assert _post(server).status_code == 200  # started again on demand
    assert server.entry.supervisor != first.supervisor


def test_a_request_that_kills_the_server_every_time_fails_at_once_naming_the_log(spec, users, monkeypatch):
    monkeypatch.setenv("FAKE_LLAMA_DIE_ON", "poison")
    server = users()
    client, async_client = following_clients(server)
    model = MbreChatOpenAI(
        model="fake",
        base_url=server.base_url,
        api_key="local",
        max_retries=0,
        retrier=Retrier(sleep=lambda _: None),
        http_client=client,
        http_async_client=async_client,
    )
    with pytest.raises(LocalServerLost, match=r"died 3 times while answering one request.*log .*\.log"):
        ask_choice(model, [HumanMessage("poison")], ("yes", "no"), max_tokens=1)
    assert model.retrier.stats() == {}  # mbre's retries would only kill it again
    answer = ask_choice(model, [HumanMessage("Is it?")], ("yes", "no"), max_tokens=1)
    assert answer.parsed is not None and answer.parsed.index == 0  # the others go on
    assert server.entry.restarts == 3


def test_sigterm_to_the_supervisor_stops_the_server_and_removes_the_entry(spec, users):
    entry = users().entry
    os.kill(entry.supervisor, signal.SIGTERM)
    assert wait_until(lambda: not alive(entry.supervisor) and not alive(entry.pid), 15)
    assert Registry(spec.key).read() is None
    assert "SIGTERM: stopping" in Path(entry.log).read_text()


def test_a_server_dying_at_start_reports_its_log(spec, tmp_path):
    binary = _binary(tmp_path / "dying", "echo 'error: cannot load the model' >&2\nexit 3")
    dying = ServerSpec(**{**json.loads(spec.to_json()), "binary": binary})
    with pytest.raises(
        LocalModelError, match=r"(?s)did not start \(.*did not start in 3 attempts.*\).*cannot load"
    ):
        _ = SharedServer(dying, startup_seconds=20).entry
    registry = Registry(dying.key)
    assert registry.read() is None and not registry.supervised()


def test_a_start_keeps_only_the_newest_server_logs(tmp_path, monkeypatch):
    monkeypatch.setenv("MBRE_CACHE_DIR", str(tmp_path))
    logs = tmp_path / "logs"
    logs.mkdir()
    for age in range(KEEP_LOGS + 5):
        old = logs / f"llama-server-m-{1000 + age}.log"
        old.write_text("old")
        os.utime(old, (1_000_000 - age, 1_000_000 - age))
    (logs / "notes.txt").write_text("not a server log")
    new = local_server_module.new_log("m")
    new.write_text("new")
    kept = {path.name for path in logs.glob("llama-server-*.log")}
    assert len(kept) == KEEP_LOGS and new.name in kept
    assert kept - {new.name} == {f"llama-server-m-{1000 + age}.log" for age in range(KEEP_LOGS - 1)}
    assert (logs / "notes.txt").exists()


def test_the_key_names_the_model_and_changes_with_the_arguments(spec):
    same = ServerSpec.from_json(spec.to_json())
    assert same.key == spec.key and spec.key.startswith("fake-")
    elsewhere = ServerSpec(**{**json.loads(spec.to_json()), "binary": "/elsewhere/llama-server"})
    assert elsewhere.key == spec.key  # another install, the same weights and arguments: shared
    assert ServerSpec(**{**json.loads(spec.to_json()), "slots": 2}).key != spec.key
