"""A fleet of model servers behind one chat model (`mbre.llm.fleet`): the least busy healthy endpoint takes
each call, a dead one is taken out and its calls resent elsewhere, and it is tried again after a pause.
Over real HTTP to loopback stubs, one of them killed mid-run."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from mbre import MbreContext
from mbre.errors import SettingError
from mbre.inventory.inventory import Inventory
from mbre.llm.fleet import Fleet, fleet_clients
from mbre.run.discover import discover
from mbre.run.rundir import RunDir
from mbre.run.tracing import JsonlTracer
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES, numbered_corpus
from tests.support.fakes import gold_script
from tests.support.openai_stub import StubServer, stub_server

SCHEMA = RelationSchema.from_file(EXAMPLES / "relations.json")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_call_goes_to_the_endpoint_with_the_fewest_in_flight():
    fleet = Fleet(["http://a/v1", "http://b/v1", "http://c/v1"])
    assert [fleet.pick(set()) for _ in range(3)] == [0, 1, 2]  # one each while all three are busy
    fleet.done(1, lost=False)
    assert fleet.pick(set()) == 1  # b has the fewest in flight now
    for index in (0, 1, 2):
        fleet.done(index, lost=False)
    assert [fleet.pick(set()) for _ in range(2)] == [2, 0]  # ties take turns, from after the last picked
    fleet.done(2, lost=False)
    fleet.done(0, lost=False)
    assert fleet.pick(set()) == 1
    assert fleet.pick({0, 1, 2}) is None  # each endpoint gets a request at most once


def test_a_lost_endpoint_is_paused_then_tried_again_and_the_pause_doubles():
    clock = Clock()
    fleet = Fleet(["http://a/v1", "http://b/v1"], clock=clock)
    a = fleet.pick(set())
    assert a == 0
    fleet.done(0, lost=True)
    assert [fleet.pick(set()) for _ in range(3)] == [1, 1, 1]  # a is out, however busy b gets
    clock.now += 1.01  # the first pause is over: a gets a trial
    assert fleet.pick(set()) == 0
    fleet.done(0, lost=True)  # the trial fails: two seconds out now
    clock.now += 1.5
    assert fleet.pick(set()) == 1
    clock.now += 0.6
    assert fleet.pick(set()) == 0
    fleet.done(0, lost=False)  # it answers: healthy again, no pause left
    assert fleet.endpoints[0].failures == 0 and fleet.endpoints[0].down_until == 0.0


def test_with_every_endpoint_paused_the_one_back_soonest_is_tried():
    clock = Clock()
    fleet = Fleet(["http://a/v1", "http://b/v1"], clock=clock)
    for index in (0, 0, 1):
        fleet.pick(set())
        fleet.done(index, lost=True)  # a: 2 s out, b: 1 s out
    assert fleet.pick(set()) == 1


def test_a_request_keeps_its_path_below_each_endpoint():
    fleet = Fleet(["http://a:1/v1", "http://b:2/api/v1"])
    request = httpx.Request("POST", "http://a:1/v1/chat/completions?x=1")
    fleet.aim(request, 1)
    assert str(request.url) == "http://b:2/api/v1/chat/completions?x=1"
    assert request.headers["host"] == "b:2"


def test_a_fleet_needs_its_first_server():
    with pytest.raises(SettingError, match="base_url"):
        fleet_clients(None, ["http://b/v1"])


def kill(server: StubServer) -> None:
    """The endpoint stops answering: its port refuses connections from now on."""
    server.shutdown()
    server.server_close()


def test_three_endpoints_share_a_run_and_one_killed_mid_run_costs_no_sentence(tmp_path):
    instances = numbered_corpus(tmp_path / "input.jsonl", 60, "f")
    script = gold_script(SCHEMA, instances)
    with stub_server(script) as a, stub_server(script) as b, stub_server(script) as c:
        killed = threading.Event()

        def kill_b_after_a_while(number: int, body: dict) -> None:
            if number == 20 and not killed.is_set():
                killed.set()
                threading.Thread(target=kill, args=(b,)).start()

        b.faults = kill_b_after_a_while
        ctx = MbreContext(
            model="openai:stub-model",
            base_url=a.base_url,
            fleet=(b.base_url, c.base_url),
            retry_base_seconds=0.01,
            cache=False,
        )
        tracer = JsonlTracer(tmp_path / "trace.jsonl")
        summary = discover(
            Inventory.build(SCHEMA), instances, ctx, tmp_path / "run", concurrency=6, callbacks=[tracer]
        )
        served = {name: len(server.requests) for name, server in (("a", a), ("b", b), ("c", c))}

    assert killed.is_set()
    samples = RunDir(tmp_path / "run").samples()
    assert sorted(s.id for s in samples) == sorted(i.id for i in instances)  # each once, none failed
    assert summary.failed == {} and summary.usage.retries == 0  # resent elsewhere, not retried
    gold = {i.id: i.relation for i in instances}
    assert all(s.relation == gold[s.id] for s in samples)
    assert served["b"] >= 20 and served["a"] > served["b"] and served["c"] > served["b"]
    calls = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    answered = [call["endpoint"] for call in calls if call["type"] == "llm"]
    assert set(answered) == {a.base_url, b.base_url, c.base_url}
    assert len(answered) == sum(served.values())  # every call answered once: those b refused, elsewhere
