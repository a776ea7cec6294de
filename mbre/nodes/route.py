"""Grouping node: FAISS retrieval of the nearest relations decides which groups to ask, in what order."""

from __future__ import annotations

from langgraph.runtime import Runtime

from mbre.graph.context import MbreContext
from mbre.graph.state import State
from mbre.inventory import ALL_LABELS, Inventory


def route(state: State, runtime: Runtime[MbreContext], *, inventory: Inventory) -> dict:
    ctx = runtime.context
    ranking = inventory.index.rank(state.instance)
    if ctx.strategy == "mbre":
        routed = inventory.index.route(ranking, ctx.route_top_k)
        groups = [g for g in routed if inventory.asked_labels(g)]
    elif ctx.strategy == "multiclass":
        groups = [ALL_LABELS]
    else:  # binary: no multi-class step, every label goes to verification
        groups = []
    runtime.stream_writer({"event": "routed", "id": state.instance.id, "groups": groups})
    return {"ranking": [label for label, _ in ranking], "groups": groups}
