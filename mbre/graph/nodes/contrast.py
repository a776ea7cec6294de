"""Contrast node: before deciding on a label whose relation the inventory also holds the other way round
(head and tail swapped), verify that inverse too, so the direction is chosen on evidence for both."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from mbre.graph.context import MbreContext
from mbre.graph.decision import leader
from mbre.graph.state import State
from mbre.inventory.inventory import Inventory


def contrast(state: State, runtime: Runtime[MbreContext], *, inventory: Inventory) -> dict[str, Any]:
    ctx = runtime.context
    best = leader(ctx.strategy, state.extractions, state.verdicts, ctx.group_weight)
    inverse = inventory.schema.inverse_of(best) if best is not None else None
    if (
        inverse is None
        or inverse in state.candidates
        or (state.offered is not None and inverse not in state.offered)
    ):
        return {}
    return {"candidates": [*state.candidates, inverse]}
