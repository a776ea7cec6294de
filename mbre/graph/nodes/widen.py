"""Widen node: while no verified candidate reaches its threshold, add the label the groups prefer next, so
the verification loop goes on until a label is decided or `extra_verifications` is spent."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from mbre.graph.context import MbreContext
from mbre.graph.decision import preferred_labels
from mbre.graph.state import State


def widen(state: State, runtime: Runtime[MbreContext]) -> dict[str, Any]:
    preferred = preferred_labels(state.answered_in_routing_order())  # ties: the nearest group's first
    label = next(label for label in preferred if label not in state.candidates)
    return {"candidates": [*state.candidates, label], "widened": state.widened + 1}
