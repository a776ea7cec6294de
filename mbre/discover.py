"""Labelling a whole file: many sentences through the graph, each sample written the moment it is done."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langgraph.graph.state import CompiledStateGraph

from mbre import __version__
from mbre.graph import MbreContext, build_graph
from mbre.inventory import Inventory
from mbre.prompts import prompts_hash
from mbre.schemas import Decision, Instance, Provenance, Sample, Usage

#: Receives every custom stream event of every sentence (progress), from worker threads.
EventSink = Callable[[dict[str, Any]], None]


@dataclass
class Summary:
    """What a run did, for the closing table and for scripts."""

    sentences: int = 0
    labelled: int = 0
    """Sentences that got a positive relation."""
    no_relation: int = 0
    abstained: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    """Sentence id -> error, for sentences whose run raised (e.g. the endpoint was unreachable)."""
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    rules: dict[str, int] = field(default_factory=dict)

    def add(self, decision: Decision, no_relation_label: str) -> None:
        self.sentences += 1
        self.usage = self.usage + decision.usage
        self.rules[decision.rule] = self.rules.get(decision.rule, 0) + 1
        if decision.label is None:
            self.abstained += 1
        elif decision.label == no_relation_label:
            self.no_relation += 1
        else:
            self.labelled += 1


def provenance(inventory: Inventory, ctx: MbreContext) -> Provenance:
    models = {ctx.model_name("extraction"), ctx.model_name("verification")}
    return Provenance(
        model=" + ".join(sorted(models)) if ctx.chat_model is None else type(ctx.chat_model).__name__,
        strategy=ctx.strategy,
        decision_policy=ctx.decision,
        epsilon=ctx.epsilon,
        prompt_hash=prompts_hash(),
        schema_hash=inventory.schema.sha256,
        grouping_hash=inventory.grouping.sha256,
        mbre_version=__version__,
    )


def label_one(
    graph: CompiledStateGraph,
    instance: Instance,
    ctx: MbreContext,
    *,
    on_event: EventSink | None,
    callbacks: list[BaseCallbackHandler],
) -> Decision:
    """Stream one sentence through the graph, passing its progress events on as they happen."""
    config = {"callbacks": callbacks, "metadata": {"mbre_id": instance.id}}
    decision: Decision | None = None
    for mode, chunk in graph.stream(
        {"instance": instance}, config, context=ctx, stream_mode=["custom", "values"]
    ):
        if mode == "custom" and on_event is not None:
            on_event(chunk)
        elif mode == "values" and chunk.get("decision") is not None:
            decision = chunk["decision"]
    if decision is None:  # the graph always ends in `decide`; this would be a bug, not bad input
        raise RuntimeError(f"the graph ended without a decision for {instance.id}")
    return decision


def discover(
    inventory: Inventory,
    instances: list[Instance],
    ctx: MbreContext,
    out: str | Path,
    *,
    concurrency: int = 1,
    on_event: EventSink | None = None,
    callbacks: list[BaseCallbackHandler] | None = None,
) -> Summary:
    """Label every instance and append one sample per line to `out` (flushed per line, so an
    interrupted run keeps everything finished). A sentence whose run raises is recorded in the
    summary and the others go on."""
    graph = build_graph(inventory)
    origin = provenance(inventory, ctx)
    summary = Summary()
    started = time.perf_counter()
    with Path(out).open("w", encoding="utf-8") as sink, ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = {
            pool.submit(
                label_one, graph, instance, ctx, on_event=on_event, callbacks=callbacks or []
            ): instance
            for instance in instances
        }
        for future in as_completed(futures):
            instance = futures[future]
            try:
                decision = future.result()
            except Exception as exc:  # one sentence's failure never stops the run
                summary.failed[instance.id] = f"{type(exc).__name__}: {exc}"
                if on_event is not None:
                    on_event({"event": "failed", "id": instance.id, "error": str(exc)})
                continue
            sample = Sample.from_decision(instance, decision, origin)
            sink.write(json.dumps(sample.model_dump(mode="json"), ensure_ascii=False) + "\n")
            sink.flush()
            summary.add(decision, inventory.schema.no_relation_label)
    summary.seconds = time.perf_counter() - started
    return summary
