"""The fault suite: 210 sentences against a loopback endpoint that rate-limits, fails, resets, stalls,
answers garbage and rejects some requests outright. Every sentence ends labelled or in the failures file,
none twice, none lost; transient faults cost retries, never sentences."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections import Counter

from mbre import MbreContext
from mbre.inventory.inventory import Inventory
from mbre.run.discover import discover
from mbre.run.rundir import RunDir
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES
from tests.support.fakes import content_free, gold_script, instance_in, text_of
from tests.support.openai_stub import Fault, stub_server

SCHEMA = RelationSchema.from_file(EXAMPLES / "relations.json")
N = 210
TRANSIENT = ("rate_limited", "server_error", "reset", "stall")


def corpus() -> list:
    base = read_instances(EXAMPLES / "sentences.jsonl")
    return [
        base[i % len(base)].model_copy(
            update={"id": f"f{i:03d}", "text": base[i % len(base)].text + f" [{i}]"}
        )
        for i in range(N)
    ]


class Schedule:
    """Seeded faults on about a quarter of the requests, never more than three in a row for one
    request (so retries always get through); every request about a `rejected` sentence gets a 400."""

    def __init__(self, instances, rejected: set[str], seed: int = 7):
        self.instances, self.rejected = instances, rejected
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.streak: Counter[str] = Counter()

    def __call__(self, number: int, body: dict) -> Fault | None:
        if not content_free(body["messages"]):
            instance = instance_in(text_of(body["messages"]), self.instances)
            if instance.id in self.rejected:
                return Fault("bad_request", message=f"content policy refused sentence {instance.id}")
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self.lock:
            roll = self.random.random()
            if self.streak[key] >= 3 or roll >= 0.25:
                self.streak[key] = 0
                return None
            self.streak[key] += 1
            kinds = ["rate_limited", "server_error", "server_error", "reset", "stall"]
            kinds += ["malformed"] if self.streak[key] == 1 else []
            kind = self.random.choice(kinds)
        if kind == "rate_limited":
            return Fault(kind, retry_after_ms="20")
        if kind == "server_error":
            return Fault(kind, status=self.random.choice([500, 502, 503]))
        if kind == "stall":
            return Fault(kind, seconds=5.0)
        return Fault(kind)


def test_every_sentence_ends_labelled_or_failed_exactly_once_under_faults(tmp_path):
    instances = corpus()
    rejected = {instances[5].id, instances[77].id, instances[150].id}
    schedule = Schedule(instances, rejected)
    with stub_server(gold_script(SCHEMA, instances), schedule) as server:
        ctx = MbreContext(
            model="openai:stub-model",
            base_url=server.base_url,
            timeout=2.0,  # well above a normal answer even on a loaded machine; stalls last 5 s
            retry_base_seconds=0.01,
            cache_path=str(tmp_path / "cache.sqlite"),
        )
        summary = discover(Inventory.build(SCHEMA), instances, ctx, tmp_path / "run", concurrency=8)
        injected = dict(server.injected)

    run = RunDir(tmp_path / "run")
    labelled = [sample.id for sample in run.samples()]
    failed = run.failures()
    assert len(labelled) == len(set(labelled))  # none twice
    assert set(labelled).isdisjoint(failed)
    assert set(labelled) | set(failed) == {i.id for i in instances}  # none lost
    assert set(failed) == rejected  # transient faults cost retries, never a sentence
    for sentence in rejected:  # 400s fail fast, with the provider's own message
        assert f"content policy refused sentence {sentence}" in failed[sentence]

    # Each transient fault was retried once; malformed answers were re-asked, not retried.
    assert all(injected.get(kind, 0) > 0 for kind in (*TRANSIENT, "malformed")), injected
    retries = summary.usage.retries + summary.calibration.retries  # sentences, and the one-off priors
    assert retries == sum(injected.get(kind, 0) for kind in TRANSIENT)
    # Labels stay right: a malformed answer was re-asked, and the re-ask answered.
    by_id = {i.id: i for i in instances}
    for sample in run.samples():
        assert sample.relation == by_id[sample.id].relation, sample.decision
    print(
        f"\nfault suite: {N} sentences, injected {injected}, retries {retries}, "
        f"failed {len(failed)} (all 400s), lost 0"
    )
