"""Grouping node: FAISS retrieval of the nearest relations decides which groups to ask, in what order."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from mbre.graph.context import MbreContext
from mbre.graph.state import State
from mbre.inventory.inventory import Inventory


def route(state: State, runtime: Runtime[MbreContext], *, inventory: Inventory) -> dict[str, Any]:
    ctx = runtime.context
    routing = inventory.groups_to_ask(state.instance, ctx.strategy, ctx.route_top_k)
    runtime.stream_writer({"event": "routed", "id": state.instance.id, "groups": routing.groups})
    return {"ranking": routing.ranking, "groups": routing.groups}
