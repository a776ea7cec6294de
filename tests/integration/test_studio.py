"""LangGraph Studio's way in: a real `langgraph dev` server on loopback loads the graph from langgraph.json,
shows its context schema, and runs one sentence sent through `langgraph-sdk`, streaming each node's update,
with the `openai:` provider answering from the stub server. Nothing leaves the machine: no browser, no
tunnel, no CLI analytics, no version check, no LangSmith tracing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph_sdk import get_sync_client

from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES, ROOT
from tests.support.fakes import gold_script
from tests.support.label_studio import free_port
from tests.support.openai_stub import stub_server

LANGGRAPH = Path(sys.executable).parent / "langgraph"
#: The switches `make studio` sets too: everything `langgraph dev` would send off the machine, off.
OFFLINE = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
}
SECRET = "sk-studio-test-key-0042"


@contextmanager
def langgraph_dev(log: Path, *, start_timeout: float = 180.0) -> Iterator[str]:
    """`langgraph dev` from the repository root, as a user starts it; its URL once it answers."""
    port = free_port()
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy") and not k.startswith(("LANGSMITH_", "LANGCHAIN_"))
    }
    env = (
        inherited
        | OFFLINE
        | {"OPENAI_API_KEY": SECRET, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    )
    command = [str(LANGGRAPH), "dev", "--host", "127.0.0.1", "--port", str(port), "--no-browser"]
    command += ["--no-reload", "--config", "langgraph.json"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while not _answers(url):
            assert process.poll() is None, f"langgraph dev exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"langgraph dev did not answer: {log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and any worker it started, nothing else
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/ok", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_langgraph_dev_serves_the_graph_and_streams_a_sentence(tmp_path):
    schema = RelationSchema.from_file(EXAMPLES / "relations.json")
    sentences = read_instances(EXAMPLES / "sentences.jsonl")
    sentence = sentences[0]
    with stub_server(gold_script(schema, sentences)) as model, langgraph_dev(tmp_path / "dev.log") as url:
        client = get_sync_client(url=url)
        # Studio's context panel: every setting a run can take, none that JSON cannot carry.
        (assistant,) = client.assistants.search(graph_id="mbre")
        schemas = client.assistants.get_schemas(assistant["assistant_id"])
        settings = schemas["context_schema"]["properties"]
        assert {"model", "base_url", "strategy", "decision", "threshold"} <= set(settings)
        assert "chat_model" not in settings
        assert settings["threshold"]["default"] == 0.75

        context = {"model": "openai:stub-model", "base_url": model.base_url, "cache": False}
        parts = list(
            client.runs.stream(
                None,
                assistant["assistant_id"],
                input={"instance": json.loads(sentence.model_dump_json())},
                context=context,
                stream_mode="updates",
            )
        )
    updates = [part.data for part in parts if part.event == "updates"]
    nodes = [node for update in updates for node in update]
    assert nodes[0] == "route" and nodes[-1] == "decide"
    assert {"extract", "propose", "verify"} <= set(nodes)
    decision = updates[-1]["decide"]["decision"]
    assert decision["label"] == sentence.relation == "founded_by"
    assert decision["rule"] == "scored" and decision["usage"]["calls"] > 0
    # The questions reached the loopback model with the key from the server's environment.
    # (with the calibration questions, asked once per run).
    assert len(model.requests) > decision["usage"]["calls"]
    assert all(r["headers"]["authorization"] == f"Bearer {SECRET}" for r in model.requests)
    assert SECRET not in (tmp_path / "dev.log").read_text()
