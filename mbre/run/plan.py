"""`mbre plan`: what a corpus will cost, per strategy, before any LLM call is made.

The prompts are rendered exactly as the graph would send them (routing included), and counted at
`CHARS_PER_TOKEN`; how many candidates M-BRe verifies depends on the model's answers, so its calls are
a range from none verified to one per asked group."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.messages import BaseMessage

from mbre.graph.context import MbreContext
from mbre.inventory.inventory import Inventory
from mbre.prompts.render import extraction_messages, verification_messages
from mbre.run.discover import CHARS_PER_TOKEN
from mbre.schemas.instances import Instance
from mbre.schemas.options import Strategy

#: Typical answer lengths in tokens: a JSON label answer, and "Yes."/"No." with its end token.
EXTRACTION_ANSWER_TOKENS = 14
VERIFICATION_ANSWER_TOKENS = 3


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
    tokens = sum(_tokens(extraction_messages(inventory.schema, labels, instance)) for labels in asked)
    return Cost(len(asked), tokens, len(asked) * EXTRACTION_ANSWER_TOKENS)


def _verifications(inventory: Inventory, instance: Instance, ctx: MbreContext, groups: int) -> Cost:
    """Binary asks every positive label; M-BRe at most one candidate per asked group (the longest
    prompts, for an upper bound); the multiclass baseline verifies nothing."""
    schema = inventory.schema
    prompts = sorted(
        (_tokens(verification_messages(schema, r.label, instance)) for r in schema.positive), reverse=True
    )
    if ctx.strategy == "multiclass":
        count = 0
    elif ctx.strategy == "binary":
        count = len(prompts)
    else:
        count = groups if ctx.max_verifications is None else min(groups, ctx.max_verifications)
    return Cost(count, sum(prompts[:count]), count * VERIFICATION_ANSWER_TOKENS)


def plan(inventory: Inventory, instances: list[Instance], ctx: MbreContext) -> PlanRow:
    """Cost bounds of labelling `instances` with `ctx.strategy`."""
    low = high = Cost()
    for instance in instances:
        extractions = _extractions(inventory, instance, ctx)
        verifications = _verifications(inventory, instance, ctx, extractions.calls)
        low = low + (verifications if ctx.strategy == "binary" else extractions)
        high = high + extractions + verifications
    return PlanRow(ctx.strategy, len(instances), low, high)
