"""`mbre plan`: what a corpus will cost, per strategy, before any LLM call is made.

The prompts are rendered exactly as the graph would send them (routing and examples included), and counted
by each role's model's tokenizer, chat template included, where it has one (`mbre.llm.tokens`); how many
candidates M-BRe verifies depends on the model's answers and the decision policy, so its calls are a
range."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mbre.graph.context import MbreContext
from mbre.inventory.inventory import Inventory
from mbre.llm.tokens import TokenCounter, token_counter
from mbre.prompts.render import answer_tokens, extraction_messages, verification_messages
from mbre.schemas.instances import Instance
from mbre.schemas.options import Role, Strategy

#: The counter of each role's model.
Counters = Mapping[Role, TokenCounter]


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


def counters(ctx: MbreContext) -> dict[Role, TokenCounter]:
    """The token counter of each role's model (one object when both roles use the same model)."""
    return {role: token_counter(ctx, role) for role in ("extraction", "verification")}


def _extractions(inventory: Inventory, instance: Instance, ctx: MbreContext, counter: TokenCounter) -> Cost:
    routing = inventory.groups_to_ask(instance, ctx.strategy, ctx.route_top_k)
    asked = [inventory.asked_labels(group) for group in routing.groups]
    tokens = sum(
        counter.count(
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


def _verification_prompts(
    inventory: Inventory, instance: Instance, ctx: MbreContext, counter: TokenCounter
) -> list[int]:
    """The tokens of every yes/no prompt about `instance` (one per positive label), longest first; none
    for the multiclass baseline, which verifies nothing."""
    if ctx.strategy == "multiclass":
        return []
    schema = inventory.schema
    return sorted(
        (
            counter.count(
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


def _verifications(prompts: list[int], ctx: MbreContext, groups: int, *, most: bool) -> Cost:
    """Binary asks every positive label (up to `max_verifications`). M-BRe at most one candidate per
    asked group and, with the calibrated decision, `extra_verifications` more and the leader's inverse;
    at least one per group only when every group's favourite is verified (the calibrated decision at
    `candidate_share` 0), else none. The upper bound counts the longest prompts, the lower the shortest."""
    if ctx.strategy == "binary":
        count = len(prompts)
    elif ctx.decision != "calibrated":
        count = groups if most else 0
    elif most:
        count = groups + ctx.extra_verifications + int(ctx.check_inverse)
    else:
        count = groups if ctx.candidate_share == 0 else 0
    if ctx.max_verifications is not None:
        count = min(count, ctx.max_verifications)
    count = min(count, len(prompts))
    asked = prompts[:count] if most else prompts[len(prompts) - count :]  # the longest, or the shortest
    return Cost(count, sum(asked), count * answer_tokens("verify"))


def plan(
    inventory: Inventory, instances: list[Instance], ctx: MbreContext, count: Counters | None = None
) -> PlanRow:
    """Cost bounds of labelling `instances` with `ctx.strategy`, its prompts counted by `count` (by
    default each role's model's counter, see `counters`)."""
    count = count or counters(ctx)
    low = high = Cost()
    for instance in instances:
        extractions = _extractions(inventory, instance, ctx, count["extraction"])
        prompts = _verification_prompts(inventory, instance, ctx, count["verification"])
        most = _verifications(prompts, ctx, extractions.calls, most=True)
        least = _verifications(prompts, ctx, extractions.calls, most=False)
        low = low + extractions + least
        high = high + extractions + most
    return PlanRow(ctx.strategy, len(instances), low, high)
