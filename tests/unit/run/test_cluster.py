"""`mbre discover --backend ray` on a local Ray (two CPUs, started once for these tests, quiet, no usage
statistics) against loopback stub servers: the same samples as one process, every sentence written once
by the driver though a worker or an endpoint dies mid-run, and a run stopped by Ctrl-C resumes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from typer.testing import CliRunner

from mbre import MbreContext
from mbre.cli.app import app
from mbre.inventory.inventory import Inventory
from mbre.run.discover import RayOptions, discover
from mbre.run.rundir import RunDir
from mbre.schemas.instances import Instance
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES, numbered_corpus
from tests.support.fakes import gold_script
from tests.support.openai_stub import StubServer, stub_server
from tests.support.processes import alive, wait_until

SCHEMA = RelationSchema.from_file(EXAMPLES / "relations.json")


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """One local Ray for the module, with this process's environment: its workers import the same mbre,
    as every node of a cluster has mbre installed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        try:
            yield
        finally:
            ray.shutdown()


def test_nothing_of_ray_leaves_the_machine():
    """No usage statistics (Ray reports them from its dashboard, which is off too), and the cluster
    listens on this machine only."""
    from ray._common.usage import usage_lib

    assert not usage_lib.usage_stats_enabled()
    assert not ray.get_runtime_context().worker.node.address_info.get("webui_url")
    assert ray.get_runtime_context().gcs_address.split(":")[0] in (
        "127.0.0.1",
        ray.util.get_node_ip_address(),
    )


def samples_of(run_dir: Path) -> dict[str, dict]:
    samples = [sample.model_dump(mode="json") for sample in RunDir(run_dir).samples()]
    by_id = {sample["id"]: sample for sample in samples}
    assert len(by_id) == len(samples), "a sentence written twice"
    return by_id


def context(*servers: StubServer, **settings) -> MbreContext:
    first, *more = servers
    return MbreContext(
        model="openai:stub-model",
        base_url=first.base_url,
        fleet=tuple(server.base_url for server in more),
        retry_base_seconds=0.01,
        cache=False,
        **settings,
    )


def test_a_ray_run_gives_the_samples_of_one_process_and_survives_a_killed_worker(tmp_path):
    instances = numbered_corpus(tmp_path / "input.jsonl", 80, "r")
    inventory = Inventory.build(SCHEMA)
    with stub_server(gold_script(SCHEMA, instances)) as server:
        discover(inventory, instances, context(server), tmp_path / "single", concurrency=4)
        pids: list[int] = []
        killed: list[int] = []
        decided: list[str] = []

        def kill_a_worker(event: dict) -> None:
            if event["event"] == "worker":
                pids.append(event["pid"])
            elif event["event"] == "decided":
                decided.append(event["id"])
                if len(decided) == 20:  # with sentences in flight on both workers
                    killed.append(pids[0])
                    os.kill(pids[0], signal.SIGKILL)

        summary = discover(
            inventory,
            instances,
            context(server),
            tmp_path / "ray",
            concurrency=4,
            on_event=kill_a_worker,
            ray=RayOptions(workers=2),
        )

    assert killed and wait_until(lambda: not alive(killed[0]), 10)
    assert summary.resent >= 1 and summary.failed == {}
    assert samples_of(tmp_path / "ray") == samples_of(tmp_path / "single")


def test_a_ray_run_stopped_by_ctrl_c_resumes_and_finishes_the_rest(tmp_path):
    instances = numbered_corpus(tmp_path / "input.jsonl", 40, "c")
    inventory = Inventory.build(SCHEMA)
    with stub_server(gold_script(SCHEMA, instances)) as server:

        def ctrl_c(event: dict) -> None:
            if event["event"] == "decided" and event.get("id") == instances[10].id:
                os.kill(os.getpid(), signal.SIGINT)

        first = discover(
            inventory,
            instances,
            context(server),
            tmp_path / "run",
            concurrency=2,
            on_event=ctrl_c,
            ray=RayOptions(workers=2),
        )
        assert first.stopped == "interrupted" and first.signal == signal.SIGINT
        assert 0 < len(samples_of(tmp_path / "run")) < len(instances)
        second = discover(
            inventory, instances, context(server), tmp_path / "run", concurrency=2, ray=RayOptions(workers=2)
        )
    assert first.failed == {} and second.failed == {}, (first.failed, second.failed)
    assert second.stopped is None and second.resumed == first.sentences
    assert set(samples_of(tmp_path / "run")) == {instance.id for instance in instances}


def test_300_sentences_on_two_workers_and_three_endpoints_one_killed_match_one_process(tmp_path):
    """The issue's acceptance, through the command: `--backend ray --workers 2`, `--base-url` three times,
    one endpoint killed mid-run; the samples equal a single-process run's, each sentence once."""
    instances: list[Instance] = numbered_corpus(tmp_path / "input.jsonl", 300, "a")
    script = gold_script(SCHEMA, instances)
    with stub_server(script) as a, stub_server(script) as b, stub_server(script) as c:
        common = [
            "discover", "--relations", str(EXAMPLES / "relations.json"),
            "--input", str(tmp_path / "input.jsonl"),
            "--model", "openai:stub-model", "--no-cache", "--concurrency", "4",
        ]  # fmt: skip
        single = CliRunner().invoke(
            app, [*common, "--base-url", a.base_url, "--run-dir", str(tmp_path / "one")]
        )
        assert single.exit_code == 0, single.output
        killed = threading.Event()

        def kill_b(number: int, body: dict) -> None:
            if number == 200 and not killed.is_set():
                killed.set()
                threading.Thread(target=lambda: (b.shutdown(), b.server_close())).start()

        b.faults = kill_b
        fleet = ["--base-url", a.base_url, "--base-url", b.base_url, "--base-url", c.base_url]
        args = [*common, *fleet, "--backend", "ray", "--workers", "2", "--run-dir", str(tmp_path / "ray")]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    assert killed.is_set() and len(b.requests) < len(c.requests)
    assert samples_of(tmp_path / "ray") == samples_of(tmp_path / "one")
    assert len(samples_of(tmp_path / "ray")) == 300


def test_runs_without_ray_never_import_it():
    code = (
        "import sys, mbre, mbre.run.discover, mbre.cli.discover, mbre.llm.fleet\n"
        "assert 'ray' not in sys.modules, 'ray imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ray_options_without_ray_are_refused_before_anything_starts(tmp_path):
    args = [
        "discover", "--relations", str(EXAMPLES / "relations.json"),
        "--input", str(EXAMPLES / "sentences.jsonl"), "--run-dir", str(tmp_path / "run"),
        "--ray-address", "auto",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "--backend ray" in result.output
    assert not (tmp_path / "run").exists()
