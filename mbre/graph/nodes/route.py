"""Grouping node: FAISS retrieval of the nearest relations decides which groups to ask, in what order, and
a typed pair's entity types which relations they may offer."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from mbre.graph.context import MbreContext
from mbre.graph.state import State
from mbre.inventory.inventory import Inventory


def route(state: State, runtime: Runtime[MbreContext], *, inventory: Inventory) -> dict[str, Any]:
    ctx = runtime.context
    routing = inventory.groups_to_ask(
        state.instance, ctx.strategy, ctx.route_top_k, narrow=ctx.narrow_by_type
    )
    runtime.stream_writer({"event": "routed", "id": state.instance.id, "groups": routing.groups})
    return {"ranking": routing.ranking, "groups": routing.groups, "offered": routing.offered}
