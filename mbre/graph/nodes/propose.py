"""Candidate node: turns the strategy's first step into the labels to verify, in order."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from mbre.graph.context import MbreContext
from mbre.graph.decision import best_group_labels
from mbre.graph.state import State


def propose(state: State, runtime: Runtime[MbreContext]) -> dict[str, Any]:
    ctx = runtime.context
    if ctx.strategy == "mbre":
        answered = state.answered_in_routing_order()  # verify the nearest group's candidate first
        if ctx.decision == "calibrated":  # each group's most preferred label, whatever its letter said
            candidates = best_group_labels(answered, ctx.candidate_share)
        else:  # the paper: the label each group answered with
            candidates = [e.label for e in answered if e.label is not None]
    elif ctx.strategy == "binary":
        candidates = list(state.ranking)
    else:  # multiclass: its one answer is final
        candidates = []
    return {"candidates": candidates}
