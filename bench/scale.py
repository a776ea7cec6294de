"""How far does mbre scale past one model server and one process? Loopback model servers, so only mbre's own
costs and the servers' latency count:

    PYTHONPATH=. python bench/scale.py [--n 300] [--latency 0.2] [--endpoints 3] [--slots 4] [--concurrency 4]

The servers are loopback OpenAI-compatible stubs (tests/support/openai_stub.py) answering SemEval test
sentences like a perfect labeller, each in a process of its own, so their CPU is not mbre's. Each answers
after `--latency` seconds and at most `--slots` calls at once (the rest queue, as in a server's batch).
Rows, each over the same n sentences with the LLM-call cache off, after an untimed warm-up in this process
(imports, the graph, the calibration questions):

- zero latency: one process, one server answering at once: mbre's own CPU per sentence (the issue's
  target: at most 8 ms);
- 1 process: one server, `--concurrency` sentences in flight;
- 1 process, fleet: `--endpoints` servers, `--concurrency` times as many sentences in flight (the same per
  server); the target: at least 2.5x the sentences a second of one server;
- Ray, 1 and 2 workers: the fleet, the same sentences in flight in all (`--backend ray`);
- floor (`--rows floor`, a table of its own): the CPU of one call, one at a time, to the zero-latency
  server, through each layer mbre's call goes through (bare httpx, the openai SDK, langchain-openai's
  ChatOpenAI, mbre's chat model), for one of the run's group questions: what a sentence of ~4.7 calls costs
  before any graph step.

"CPU s / sentence" is the CPU time of this process and of the Ray workers (their start-up left out:
counted from when each reported ready), over the sentences labelled. Ray's own daemons are not counted.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mbre.evaluation.gold import load_gold, select_slice
from mbre.graph.context import MbreContext
from mbre.inventory.inventory import Inventory
from mbre.run.discover import RayOptions, discover
from mbre.schemas.instances import Instance
from mbre.schemas.relations import RelationSchema

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "semeval2010_task8"
TICKS = os.sysconf("SC_CLK_TCK")


def sentences(n: int, seed: int) -> tuple[RelationSchema, list[Instance]]:
    schema = RelationSchema.from_file(DATA / "relations.json")
    return schema, select_slice(load_gold(DATA / "test.jsonl", labels=schema.labels), n, seed)


def serve(n: int, seed: int, latency: float, slots: int, pipe: Connection) -> None:
    """One server's process: a stub answering the drawn sentences; its URL goes down the pipe, and it
    stops when the pipe says so."""
    from tests.support.fakes import gold_script
    from tests.support.openai_stub import stub_server

    schema, instances = sentences(n, seed)
    with stub_server(gold_script(schema, instances), latency=latency, slots=slots, keep_alive=True) as server:
        pipe.send(server.base_url)
        pipe.recv()


class Servers:
    """Loopback model servers, each in a process of its own (a Python server is bound by its own CPU)."""

    def __init__(self, n: int, seed: int, latency: float, slots: int, endpoints: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipes: list[Connection] = []
        self._processes = []
        for _ in range(endpoints):
            ours, theirs = context.Pipe()
            process = context.Process(target=serve, args=(n, seed, latency, slots, theirs))
            process.start()
            self._pipes.append(ours)
            self._processes.append(process)
        self.urls: list[str] = [pipe.recv() for pipe in self._pipes]

    def stop(self) -> None:
        for pipe in self._pipes:
            pipe.send("stop")
        for process in self._processes:
            process.join(10)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class WorkerClock:
    """The CPU of the Ray workers since each reported ready, sampled until they are stopped."""

    def __init__(self) -> None:
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def on_event(self, event: dict[str, Any]) -> None:
        if event["event"] == "worker":
            self.start[event["pid"]] = self.last[event["pid"]] = process_cpu(event["pid"])

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            for pid in list(self.start):
                with contextlib.suppress(OSError, IndexError):  # stopped: its last sample stands
                    self.last[pid] = process_cpu(pid)

    def seconds(self) -> float:
        self._stop.set()
        self._thread.join()
        return sum(self.last[pid] - self.start[pid] for pid in self.start)


@dataclass
class Row:
    name: str
    sentences: int
    wall: float
    cpu: float
    calls: int


def timed(name: str, label: Callable[[Callable[[dict[str, Any]], None]], Any], n: int) -> Row:
    clock = WorkerClock()
    began, cpu = time.perf_counter(), time.process_time()
    ready: list[float] = []

    def on_event(event: dict[str, Any]) -> None:
        clock.on_event(event)
        if event["event"] == "worker":
            ready.append(time.perf_counter())

    summary = label(on_event)
    wall = time.perf_counter() - (max(ready) if ready else began)
    return Row(
        name, summary.sentences, wall, time.process_time() - cpu + clock.seconds(), summary.usage.calls
    )


def call_floor(url: str, schema: Any, instance: Instance, calls: int = 300) -> list[tuple[str, float]]:
    """(layer, CPU ms a call) for one group question asked `calls` times in a row at each layer."""
    import httpx
    import openai
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    from mbre.llm.providers import chat_model_for
    from mbre.prompts.render import extraction_messages

    messages = extraction_messages(schema, schema.labels[:6], instance)
    roles = {"system": "system", "human": "user"}
    body: dict[str, Any] = {
        "model": "stub-model",
        "messages": [{"role": roles[m.type], "content": m.content} for m in messages],
        "logprobs": True,
        "top_logprobs": 5,
        "max_tokens": 2,
    }
    client, sdk = httpx.Client(), openai.OpenAI(base_url=url, api_key="unused")
    chat = ChatOpenAI(
        model="stub-model", base_url=url, api_key=SecretStr("unused"), logprobs=True, top_logprobs=5
    )
    ours = chat_model_for(MbreContext(model="openai:stub-model", base_url=url, cache=False), "extraction")
    layers: dict[str, Callable[[], object]] = {
        "httpx, the body as JSON": lambda: client.post(f"{url}/chat/completions", json=body).json(),
        "openai SDK": lambda: sdk.chat.completions.create(**body),
        "langchain-openai ChatOpenAI.invoke": lambda: chat.invoke(messages, max_tokens=2),
        "mbre's chat model (retries, limiter, parse checks)": lambda: ours.invoke(messages, max_tokens=2),
    }
    found = []
    for name, call in layers.items():
        call()
        cpu = time.process_time()
        for _ in range(calls):
            call()
        found.append((name, 1000 * (time.process_time() - cpu) / calls))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=300, help="sentences per row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds a server takes per answer")
    parser.add_argument("--endpoints", type=int, default=3, help="servers in the fleet")
    parser.add_argument("--slots", type=int, default=4, help="calls a server answers at once")
    parser.add_argument("--concurrency", type=int, default=4, help="sentences in flight per server")
    parser.add_argument(
        "--rows", default="zero,one,fleet,ray1,ray2,floor", help="which rows, comma-separated"
    )
    args = parser.parse_args()
    rows = set(args.rows.split(","))

    schema, gold = sentences(args.n, args.seed)
    inventory = Inventory.build(schema)
    instances = [instance.model_copy(update={"relation": None}) for instance in gold]
    results: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="mbre-scale-") as work:
        os.environ["MBRE_CACHE_DIR"] = str(Path(work) / "cache")

        def ctx(urls: list[str]) -> MbreContext:
            return MbreContext(
                model="openai:stub-model", base_url=urls[0], fleet=tuple(urls[1:]), cache=False
            )

        def run(name: str, urls: list[str], concurrency: int, ray: RayOptions | None = None) -> None:
            directory = Path(work) / name.replace(" ", "-")
            row = timed(
                name,
                lambda on_event: discover(
                    inventory,
                    instances,
                    ctx(urls),
                    directory,
                    concurrency=concurrency,
                    on_event=on_event,
                    ray=ray,
                ),
                args.n,
            )
            results.append(row)
            rate, cpu = row.sentences / row.wall, 1000 * row.cpu / row.sentences
            print(f"{name}: {rate:.1f} sentences/s, {cpu:.1f} ms CPU each", flush=True)

        zero = Servers(args.n, args.seed, 0.0, args.slots, 1)
        try:
            discover(inventory, instances[:2], ctx(zero.urls), Path(work) / "warm", concurrency=1)
            if "zero" in rows:
                run("zero latency, 1 process", zero.urls, args.concurrency)
            if "floor" in rows:
                floor = call_floor(zero.urls[0], schema, instances[0])
        finally:
            zero.stop()
        fleet = Servers(args.n, args.seed, args.latency, args.slots, args.endpoints)
        try:
            total = args.concurrency * args.endpoints
            if "one" in rows:
                run("1 process, 1 server", fleet.urls[:1], args.concurrency)
            if "fleet" in rows:
                run(f"1 process, fleet of {args.endpoints}", fleet.urls, total)
            for workers in (1, 2):
                if f"ray{workers}" in rows:
                    options = RayOptions(workers=workers)
                    run(
                        f"Ray, {workers} worker{'s' * (workers > 1)}",
                        fleet.urls,
                        max(total // workers, 1),
                        options,
                    )
        finally:
            fleet.stop()

    table = Table(
        title=f"mbre at scale: {args.n} SemEval test sentences; servers answer in {args.latency} s, "
        f"{args.slots} at once"
    )
    for header in ("run", "sentences/s", "CPU ms / sentence", "calls / sentence", "wall s"):
        table.add_column(header, justify="right" if header != "run" else "left")
    for row in results:
        table.add_row(
            row.name,
            f"{row.sentences / row.wall:.1f}",
            f"{1000 * row.cpu / row.sentences:.1f}",
            f"{row.calls / row.sentences:.2f}",
            f"{row.wall:.1f}",
        )
    Console().print(table)
    if "floor" in rows:
        layers = Table(title="CPU of one call to the zero-latency server, one at a time")
        layers.add_column("through")
        layers.add_column("CPU ms / call", justify="right")
        for name, ms in floor:
            layers.add_row(name, f"{ms:.2f}")
        Console().print(layers)


if __name__ == "__main__":
    main()
