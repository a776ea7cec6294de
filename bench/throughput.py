"""How close is mbre to the machine's limit? One run, the same sentences, the same embedded server:

    python bench/throughput.py [--n 20] [--seed 0] [--split test] [--examples 1] [--concurrency 4] [--slots 4]

(a) `discover` labels n seeded SemEval sentences with the LLM-call cache off; every chat request it sends
    is recorded at the HTTP transport, with the server's own timings of each answer.
(b) the same requests replayed straight over HTTP, no LangGraph, --concurrency of them in flight.
(c) naive: the same requests one at a time with the server's prompt cache off (`cache_prompt: false`),
    so every prompt token is evaluated again.
(d) the bound: the prompt tokens the server really evaluated in (a) over its prompt rate, plus the tokens
    it generated over its generation rate, both rates measured by the server itself in (c).

The server is a private one (a cache directory of the bench's own, linked to the user's weights), started
afresh and warmed before each row, so no row finds prompts of an earlier one in the server's caches.

Targets (issue 15): (a) at most 1.1x (b), at least 3x faster than (c), within 1.3x of (d). Run it on an
idle machine (`uptime`): any other load slows every row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from two_processes import private_cache  # bench/ is on sys.path when run as a script

from mbre.evaluation.gold import load_gold, select_slice
from mbre.inventory.inventory import Inventory
from mbre.llm.local import transport
from mbre.llm.local.shared import SharedServer, local_server
from mbre.run.config import load_context
from mbre.run.discover import discover
from mbre.schemas.instances import Instance, read_instances
from mbre.schemas.relations import RelationSchema

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "semeval2010_task8"


@dataclass
class Exchange:
    """One chat request as sent, and the server's account of answering it."""

    body: dict[str, Any]
    prompt_tokens: int = 0
    """Tokens in the prompt, as the server counts them."""
    evaluated: int = 0
    """Prompt tokens the server evaluated (the rest came from its prompt cache)."""
    prompt_ms: float = 0.0
    generated: int = 0
    generation_ms: float = 0.0

    def answered(self, reply: dict[str, Any]) -> None:
        timings, usage = reply.get("timings", {}), reply.get("usage", {})
        self.prompt_tokens = int(usage.get("prompt_tokens", 0))
        self.evaluated = int(timings.get("prompt_n", 0))
        self.prompt_ms = float(timings.get("prompt_ms", 0.0))
        self.generated = int(timings.get("predicted_n", 0))
        self.generation_ms = float(timings.get("predicted_ms", 0.0))


@dataclass
class Row:
    name: str
    seconds: float
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(e.prompt_tokens for e in self.exchanges)

    @property
    def evaluated(self) -> int:
        return sum(e.evaluated for e in self.exchanges)


def record_requests() -> list[Exchange]:
    """Record every chat completion the embedded model's transport sends, with the server's timings. The
    graph's nodes call the model synchronously, from LangGraph's worker threads."""
    recorded: list[Exchange] = []
    lock = threading.Lock()
    original = transport.FollowingTransport.handle_request

    def handle(self: transport.FollowingTransport, request: httpx.Request) -> httpx.Response:
        response = original(self, request)
        if request.url.path.endswith("/chat/completions"):
            exchange = Exchange(json.loads(request.content))
            exchange.answered(response.json())
            with lock:
                recorded.append(exchange)
        return response

    transport.FollowingTransport.handle_request = handle  # type: ignore[method-assign]
    return recorded


def draw(n: int, seed: int, split: str, examples: int) -> tuple[Inventory, list[Instance]]:
    """The seeded slice and the inventory (with `examples` per relation from train) evaluate_gold uses,
    and one more sentence, labelled first and untimed, so that the calibration questions (asked once per
    process) are out of the timed rows."""
    schema = RelationSchema.from_file(DATA / "relations.json")
    chosen = select_slice(load_gold(DATA / f"{split}.jsonl", labels=schema.labels), n + 1, seed)
    seeds: list[Instance] = []
    if examples:
        from evaluate_gold import draw_examples

        avoid = {instance.id for instance in chosen}
        seeds = draw_examples(read_instances(DATA / "train.jsonl"), schema, examples, avoid)
    unlabelled = [instance.model_copy(update={"relation": None}) for instance in chosen]
    return Inventory.build(schema, seeds=seeds), unlabelled


def fresh(server: SharedServer) -> None:
    """Stop the server, start it again and warm it: the next row finds no cached prompt."""
    server.release()
    deadline = time.monotonic() + 60
    while server.registry.supervised():
        if time.monotonic() > deadline:
            raise SystemExit("the bench's server did not stop; is another process using its cache directory?")
        time.sleep(0.2)
    warm = {"messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1}
    httpx.post(f"{server.base_url}/chat/completions", json=warm, timeout=600).raise_for_status()


async def replay(server: SharedServer, exchanges: list[Exchange], workers: int, *, prompt_cache: bool) -> Row:
    """Send the recorded requests again, `workers` at a time, in the recorded order."""
    queue: asyncio.Queue[Exchange] = asyncio.Queue()
    for exchange in exchanges:
        queue.put_nowait(exchange)
    done: list[Exchange] = []
    async with httpx.AsyncClient(timeout=600) as client:

        async def work() -> None:
            while not queue.empty():
                sent = queue.get_nowait()
                body = sent.body if prompt_cache else {**sent.body, "cache_prompt": False}
                reply = await client.post(f"{server.base_url}/chat/completions", json=body)
                reply.raise_for_status()
                again = Exchange(body)
                again.answered(reply.json())
                done.append(again)

        began = time.perf_counter()
        await asyncio.gather(*(work() for _ in range(workers)))
        seconds = time.perf_counter() - began
    return Row("", seconds, done)


def rate(tokens: int, ms: float) -> float:
    return tokens / (ms / 1000) if ms > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="test")
    parser.add_argument("--examples", type=int, default=1, help="examples per relation from train.jsonl")
    parser.add_argument("--concurrency", type=int, default=4, help="sentences in flight in (a)")
    parser.add_argument("--slots", type=int, default=None, help="the server's slots (local_slots); default 4")
    parser.add_argument("--strategy", default="mbre")
    args = parser.parse_args()

    inventory, instances = draw(args.n, args.seed, args.split, args.examples)
    with tempfile.TemporaryDirectory(prefix="mbre-throughput-") as work:
        os.environ["MBRE_CACHE_DIR"] = str(private_cache(Path(work) / "cache"))
        ctx = load_context(
            model="local",
            cache=False,
            shots=max(args.examples, 1),
            strategy=args.strategy,
            local_slots=args.slots,
        )
        server = local_server(slots=ctx.local_slots)
        exchanges = record_requests()
        warm, instances = instances[:1], instances[1:]
        discover(inventory, warm, ctx, Path(work) / "warm", concurrency=1)  # calibrates, untimed
        fresh(server)
        exchanges.clear()
        began = time.perf_counter()
        summary = discover(inventory, instances, ctx, Path(work) / "run", concurrency=args.concurrency)
        graph = Row("(a) mbre discover", time.perf_counter() - began, list(exchanges))
        if len(summary.failed):
            raise SystemExit(f"{len(summary.failed)} sentences failed; the timings would not compare")
        fresh(server)
        http = asyncio.run(replay(server, graph.exchanges, args.concurrency, prompt_cache=True))
        http.name = "(b) the same requests over HTTP"
        fresh(server)
        naive = asyncio.run(replay(server, graph.exchanges, 1, prompt_cache=False))
        naive.name = "(c) naive: one at a time, prompt cache off"
        server.release()

    prompt_rate = rate(naive.evaluated, sum(e.prompt_ms for e in naive.exchanges))
    generated = sum(e.generated for e in naive.exchanges)
    generation_rate = rate(generated, sum(e.generation_ms for e in naive.exchanges))
    bound_seconds = (
        graph.evaluated / prompt_rate + sum(e.generated for e in graph.exchanges) / generation_rate
    )
    bound = Row("(d) bound: evaluated / prompt rate + generated / generation rate", bound_seconds)

    setup = f"{args.strategy}, {args.concurrency} in flight, {ctx.local_slots} server slots"
    table = Table(title=f"throughput on {len(instances)} SemEval {args.split} sentences, {setup}")
    for header in ("run", "seconds", "s/sentence", "calls", "prompt tokens", "evaluated", "vs (a)"):
        table.add_column(header, justify="left" if header == "run" else "right")
    for row in (graph, http, naive, bound):
        table.add_row(
            row.name,
            f"{row.seconds:.1f}",
            f"{row.seconds / len(instances):.2f}",
            str(len(row.exchanges) or len(graph.exchanges)),
            f"{(row.sent or graph.sent):,}",
            f"{(row.evaluated or graph.evaluated):,}",
            f"{row.seconds / graph.seconds:.2f}x",
        )
    console = Console(width=160)
    console.print(table)
    median_ms = statistics.median(e.prompt_ms for e in naive.exchanges)
    console.print(
        f"server rates in (c): prompt {prompt_rate:.1f} tok/s (median prompt {median_ms:.0f} ms), "
        f"generation {generation_rate:.1f} tok/s"
    )
    checks = [
        ("(a) / (b) <= 1.1", graph.seconds / http.seconds, graph.seconds / http.seconds <= 1.1),
        ("(c) / (a) >= 3", naive.seconds / graph.seconds, naive.seconds / graph.seconds >= 3),
        ("(a) / (d) <= 1.3", graph.seconds / bound.seconds, graph.seconds / bound.seconds <= 1.3),
    ]
    for name, value, ok in checks:
        console.print(f"{name}: {value:.2f} {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
