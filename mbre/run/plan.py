"""`mbre plan`: what a corpus will cost, per strategy, before any LLM call is made.

The prompts are rendered exactly as the graph would send them (routing and examples included), and counted
by each role's model's tokenizer, chat template included, where it has one (`mbre.llm.tokens`); how many
candidates M-BRe verifies depends on the model's answers and the decision policy, so its calls are a
range. Each role is counted apart (it may be another model, at another price), the content-free
calibration questions included (asked once per run: every asked group's, and at most every label's
verification), and a run whose confidence is sampled asks each question K times; a verbalized one asks
each once, in its own wording, for the word and a percentage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage

from mbre.graph.context import MbreContext
from mbre.inventory.inventory import Inventory
from mbre.llm.prices import listed_price
from mbre.llm.providers import parse_spec, returns_logprobs
from mbre.llm.tokens import TokenCounter, token_counter
from mbre.prompts.render import (
    answer_tokens,
    content_free_instances,
    extraction_messages,
    verbalized_messages,
    verification_messages,
)
from mbre.schemas.answers import YES_NO, option_letters
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

    def __mul__(self, times: int) -> Cost:
        return Cost(self.calls * times, self.prompt_tokens * times, self.completion_tokens * times)


@dataclass(frozen=True)
class PlanRow:
    """The cost of a corpus under one strategy: its sentences' own at least `low`, at most `high`; the
    run's content-free calibration questions (`calibration`: low, high); and each role's total, the
    calibration included (`roles`: role -> (low, high)), to price apart."""

    strategy: Strategy
    sentences: int
    low: Cost
    high: Cost
    calibration: tuple[Cost, Cost]
    roles: dict[Role, tuple[Cost, Cost]]

    @property
    def total(self) -> tuple[Cost, Cost]:
        """(low, high) of the whole run: the sentences' and the calibration questions'."""
        return self.low + self.calibration[0], self.high + self.calibration[1]


def samples_per_question(ctx: MbreContext) -> int:
    """How often the run asks each question: K when its confidence is sampled, set or by `auto` (when a
    role's provider returns no token probabilities, the run samples both roles: one source per run,
    see `mbre.llm.preflight.settle_confidence`), else once."""
    if ctx.chat_model is not None or ctx.confidence in ("logprobs", "verbalized", "none"):
        return 1
    providers = {parse_spec(ctx.model_name(role))[0] for role in ("extraction", "verification")}
    if ctx.confidence == "sampled" or not ctx.logprobs or not all(map(returns_logprobs, providers)):
        return ctx.confidence_samples
    return 1


def role_price(ctx: MbreContext, role: Role) -> tuple[float, float] | None:
    """USD per million (prompt, completion) tokens of the role's model: the config's prices, else the
    built-in table's (`mbre.llm.prices`); None when neither knows."""
    if ctx.price_prompt_per_million is not None and ctx.price_completion_per_million is not None:
        return ctx.price_prompt_per_million, ctx.price_completion_per_million
    if ctx.chat_model is not None:
        return None
    return listed_price(ctx.model_name(role), ctx.base_url)


def role_money(ctx: MbreContext, role: Role, costs: tuple[Cost, Cost]) -> tuple[float, float] | None:
    """A role's (low, high) USD at its model's price (`role_price`); None without one."""
    price = role_price(ctx, role)
    if price is None:
        return None
    low, high = ((c.prompt_tokens * price[0] + c.completion_tokens * price[1]) / 1_000_000 for c in costs)
    return low, high


def money(row: PlanRow, ctx: MbreContext) -> tuple[float, float] | None:
    """The row's (low, high) USD, each role at its model's price; None when a role has no price."""
    each = [role_money(ctx, role, costs) for role, costs in row.roles.items()]
    if any(usd is None for usd in each):
        return None
    return sum(usd[0] for usd in each if usd), sum(usd[1] for usd in each if usd)


def counters(ctx: MbreContext) -> dict[Role, TokenCounter]:
    """The token counter of each role's model (one object when both roles use the same model)."""
    return {role: token_counter(ctx, role) for role in ("extraction", "verification")}


def _asked(
    ctx: MbreContext, template: str, messages: list[BaseMessage], choices: Sequence[str]
) -> list[BaseMessage]:
    """Question `template` as the run sends it: in verbalized runs, asking for a stated confidence too."""
    return verbalized_messages(messages, template, choices) if ctx.confidence == "verbalized" else messages


def _answer(ctx: MbreContext, template: str) -> int:
    """The completion tokens one answer to question `template` may take in this run."""
    return answer_tokens(template, verbalized=ctx.confidence == "verbalized")


def _group(
    inventory: Inventory, ctx: MbreContext, labels: list[str], instance: Instance
) -> list[BaseMessage]:
    shown = inventory.demonstrations.for_labels(labels, instance, ctx.shots)
    messages = extraction_messages(inventory.schema, labels, instance, shown)
    return _asked(ctx, "extract", messages, option_letters(len(labels) + 1))


def _verification(
    inventory: Inventory, ctx: MbreContext, label: str, instance: Instance
) -> list[BaseMessage]:
    shown = inventory.demonstrations.for_labels([label], instance, ctx.shots)
    return _asked(ctx, "verify", verification_messages(inventory.schema, label, instance, shown), YES_NO)


def _extractions(
    inventory: Inventory, instance: Instance, ctx: MbreContext, counter: TokenCounter, groups: list[int]
) -> Cost:
    asked = [inventory.asked_labels(group) for group in groups]
    tokens = sum(counter.count(_group(inventory, ctx, labels, instance)) for labels in asked)
    return Cost(len(asked), tokens, len(asked) * _answer(ctx, "extract"))


def _verification_prompts(
    inventory: Inventory, instance: Instance, ctx: MbreContext, counter: TokenCounter
) -> list[int]:
    """The tokens of every yes/no prompt about `instance` (one per positive label), longest first; none
    for the multiclass baseline, which verifies nothing."""
    if ctx.strategy == "multiclass":
        return []
    return sorted(
        (counter.count(_verification(inventory, ctx, r.label, instance)) for r in inventory.schema.positive),
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
    return Cost(count, sum(asked), count * _answer(ctx, "verify"))


def _calibration(
    inventory: Inventory, ctx: MbreContext, groups: set[int], count: Counters
) -> dict[Role, tuple[Cost, Cost]]:
    """The content-free questions of a run, asked once each (`mbre.graph.calibration`): every asked
    group's; and of the verifications, none at least (no candidate verified) and every positive label's
    at most (all for binary, which verifies them all)."""
    if not ctx.calibrate:
        return {"extraction": (Cost(), Cost()), "verification": (Cost(), Cost())}
    blanks = content_free_instances()
    extraction = Cost()
    for group in sorted(groups):
        labels = inventory.asked_labels(group)
        for blank in blanks:
            tokens = count["extraction"].count(_group(inventory, ctx, labels, blank))
            extraction = extraction + Cost(1, tokens, _answer(ctx, "extract"))
    verification = Cost()
    if ctx.strategy != "multiclass":
        for relation in inventory.schema.positive:
            for blank in blanks:
                messages = _verification(inventory, ctx, relation.label, blank)
                verification = verification + Cost(
                    1, count["verification"].count(messages), _answer(ctx, "verify")
                )
    least = verification if ctx.strategy == "binary" else Cost()
    return {"extraction": (extraction, extraction), "verification": (least, verification)}


def plan(
    inventory: Inventory, instances: list[Instance], ctx: MbreContext, count: Counters | None = None
) -> PlanRow:
    """Cost bounds of labelling `instances` with `ctx.strategy`, its prompts counted by `count` (by
    default each role's model's counter, see `counters`)."""
    count = count or counters(ctx)
    extracted = verified_low = verified_high = Cost()
    groups: set[int] = set()
    for instance in instances:
        routed = inventory.groups_to_ask(instance, ctx.strategy, ctx.route_top_k).groups
        groups |= set(routed)
        extractions = _extractions(inventory, instance, ctx, count["extraction"], routed)
        prompts = _verification_prompts(inventory, instance, ctx, count["verification"])
        extracted = extracted + extractions
        verified_high = verified_high + _verifications(prompts, ctx, extractions.calls, most=True)
        verified_low = verified_low + _verifications(prompts, ctx, extractions.calls, most=False)
    calibration = _calibration(inventory, ctx, groups, count)
    k = samples_per_question(ctx)
    own = {"extraction": (extracted, extracted), "verification": (verified_low, verified_high)}
    roles: dict[Role, tuple[Cost, Cost]] = {
        role: ((own[role][0] + calibration[role][0]) * k, (own[role][1] + calibration[role][1]) * k)
        for role in calibration
    }
    return PlanRow(
        ctx.strategy,
        len(instances),
        (extracted + verified_low) * k,
        (extracted + verified_high) * k,
        (
            (calibration["extraction"][0] + calibration["verification"][0]) * k,
            (calibration["extraction"][1] + calibration["verification"][1]) * k,
        ),
        roles,
    )
