"""Conditional edges: where a sentence goes after routing and after each verification.

Which groups a sentence is asked about is decided once, by `Inventory.groups_to_ask` in the route node;
these edges only follow that decision."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Send

from mbre.graph.context import MbreContext
from mbre.graph.decision import preferred_labels, undecided
from mbre.graph.state import ExtractionTask, State
from mbre.inventory.inventory import Inventory


def fan_out_extraction(
    state: State, runtime: Runtime[MbreContext], *, inventory: Inventory
) -> list[Send] | Literal["propose"]:
    """One parallel extraction per routed group; straight on when no group is to be asked (binary)."""
    if not state.groups:
        return "propose"
    return [
        Send(
            "extract",
            ExtractionTask(instance=state.instance, group=g, labels=inventory.asked_labels(g, state.offered)),
        )
        for g in state.groups
    ]


def next_verification(
    state: State, runtime: Runtime[MbreContext]
) -> Literal["verify", "widen", "contrast", "decide"]:
    """Loop over the candidates until a label is decided or the bound is reached; while no calibrated
    M-BRe score reaches its threshold, widen the candidates (`extra_verifications`); then contrast the
    leading label with its inverse before deciding."""
    ctx = runtime.context
    if _pending(state, ctx):
        return "verify"
    if ctx.decision == "calibrated" and ctx.strategy == "mbre":
        if _widen(state, ctx):
            return "widen"
        if ctx.check_inverse:
            return "contrast"
    return "decide"


def after_contrast(state: State, runtime: Runtime[MbreContext]) -> Literal["verify", "decide"]:
    """Verify the inverse the contrast node added, if any."""
    return "verify" if _pending(state, runtime.context) else "decide"


def _widen(state: State, ctx: MbreContext) -> bool:
    """Whether to add the groups' next preferred label: no score reaches its threshold yet, the budget
    and the verification bound allow one more, and a label is left."""
    if state.widened >= ctx.extra_verifications:
        return False
    if ctx.max_verifications is not None and len(state.verdicts) >= ctx.max_verifications:
        return False
    if not undecided(
        ctx.strategy, state.extractions, state.verdicts, ctx.threshold, dict(ctx.thresholds), ctx.group_weight
    ):
        return False
    return any(label not in state.candidates for label in preferred_labels(state.extractions))


def _pending(state: State, ctx: MbreContext) -> bool:
    """Whether a candidate still waits for its verification, within the policy's stop and the bound."""
    if len(state.verdicts) >= len(state.candidates):
        return False
    if ctx.decision == "first" and state.verdicts and state.verdicts[-1].holds:
        return False
    bound = len(state.candidates) if ctx.max_verifications is None else ctx.max_verifications
    return len(state.verdicts) < bound
