"""`mbre plan`: what a corpus will cost, per strategy, before any LLM call is made.

The prompts are rendered exactly as the graph would send them (routing and examples included), and counted
at `CHARS_PER_TOKEN`; how many candidates M-BRe verifies depends on the model's answers and the decision
policy, so its calls are a range."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.messages import BaseMessage

from mbre.graph.context import MbreContext
from mbre.inventory.inventory import Inventory
from mbre.llm.tokens import CHARS_PER_TOKEN
from mbre.prompts.render import answer_tokens, extraction_messages, verification_messages
from mbre.schemas.instances import Instance
from mbre.schemas.options import Strategy


@dataclass(frozen=True)
class Cost:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.calls + other.calls,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True)
class PlanRow:
    """The cost of a corpus under one strategy: at least `low`, at most `high`."""

    strategy: Strategy
    sentences: int
    low: Cost
    high: Cost


def _tokens(messages: list[BaseMessage]) -> int:
    return sum(len(str(message.content)) for message in messages) // CHARS_PER_TOKEN


def _extractions(inventory: Inventory, instance: Instance, ctx: MbreContext) -> Cost:
    routing = inventory.groups_to_ask(instance, ctx.strategy, ctx.route_top_k)
    asked = [inventory.asked_labels(group) for group in routing.groups]
    tokens = sum(
        _tokens(
            extraction_messages(
                inventory.schema,
                labels,
                instance,
                inventory.demonstrations.for_labels(labels, instance, ctx.shots),
            )
        )
        for labels in asked
    )
    return Cost(len(asked), tokens, len(asked) * answer_tokens("extract"))


def _verifications(
    inventory: Inventory, instance: Instance, ctx: MbreContext, groups: int, *, contrast: bool
) -> Cost:
    """Binary asks every positive label; M-BRe at most one candidate per asked group, and with the
    calibrated decision the leader's inverse (the longest prompts, for an upper bound); the multiclass
    baseline verifies nothing."""
    schema = inventory.schema
    prompts = sorted(
        (
            _tokens(
                verification_messages(
                    schema,
                    r.label,
                    instance,
                    inventory.demonstrations.for_labels([r.label], instance, ctx.shots),
                )
            )
            for r in schema.positive
        ),
        reverse=True,
    )
    if ctx.strategy == "multiclass":
        count = 0
    elif ctx.strategy == "binary":
        count = len(prompts)
    else:
        extra = int(contrast and ctx.decision == "calibrated" and ctx.check_inverse)
        count = groups + extra if ctx.max_verifications is None else min(groups, ctx.max_verifications)
    return Cost(count, sum(prompts[:count]), count * answer_tokens("verify"))


def plan(inventory: Inventory, instances: list[Instance], ctx: MbreContext) -> PlanRow:
    """Cost bounds of labelling `instances` with `ctx.strategy`."""
    low = high = Cost()
    for instance in instances:
        extractions = _extractions(inventory, instance, ctx)
        most = _verifications(inventory, instance, ctx, extractions.calls, contrast=True)
        # The paper's rules can verify nothing (a group that answers "none" proposes no candidate); the
        # calibrated one verifies a candidate from every group, and the leader's inverse only when it has one.
        fixed = ctx.strategy == "binary" or (ctx.strategy == "mbre" and ctx.decision == "calibrated")
        least = (
            _verifications(inventory, instance, ctx, extractions.calls, contrast=False) if fixed else Cost()
        )
        low = low + extractions + least
        high = high + extractions + most
    return PlanRow(ctx.strategy, len(instances), low, high)
