"""`mbre plan`: what labelling a corpus will cost under each strategy, before any LLM call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mbre.cli.console import console
from mbre.cli.options import (
    BaseUrlOpt,
    ConfidenceOpt,
    ConfigOpt,
    GroupingOpt,
    InputOpt,
    ModelOpt,
    NoRelationOpt,
    OnBadInputOpt,
    RelationsOpt,
    RouteTopKOpt,
    load_inventory,
    read_input,
)
from mbre.cli.tables import print_rows
from mbre.schemas.options import STRATEGIES, parse_strategies
from mbre.schemas.table import Rows

if TYPE_CHECKING:
    from mbre.graph.context import MbreContext
    from mbre.run.plan import Counters, PlanRow


def plan_command(
    relations: RelationsOpt,
    input: InputOpt,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    strategies: Annotated[str, typer.Option(help="Comma-separated strategies to price.")] = ",".join(
        STRATEGIES
    ),
    route_top_k: RouteTopKOpt = None,
    confidence: ConfidenceOpt = None,
    grouping: GroupingOpt = None,
    no_relation: NoRelationOpt = None,
    on_bad_input: OnBadInputOpt = "fail",
) -> None:
    """Estimate LLM calls, tokens and money for --input, without any LLM call: the calibration
    questions included, each role (group questions, verifications) at its own model's price (the config's
    price_*_per_million, else the built-in table of common hosted models), K answers per question where
    the confidence is sampled. Tokens are counted by the model's own tokenizer, chat template included:
    the embedded model's server (started if it is not running), a llama.cpp server's /tokenize, or
    tiktoken for OpenAI; else at about 4 characters a token. The title says which."""
    from mbre.llm.preflight import check_models
    from mbre.run.config import load_context
    from mbre.run.plan import counters, money, plan

    names = parse_strategies(strategies)
    inventory = load_inventory(relations, no_relation, None, True, grouping)
    instances, _, _ = read_input(input, on_bad_input)
    contexts = [
        load_context(
            config,
            model=model,
            base_url=base_url,
            strategy=name,
            route_top_k=route_top_k,
            confidence=confidence,
        )
        for name in names
    ]
    check_models(contexts[0], key=False)  # a bad model string or a missing extra; pricing needs no key
    count = counters(contexts[0])  # the strategies share the models, so their counters and counts
    rows = []
    console.print(_counting(count), highlight=False)
    with console.status("counting prompt tokens ..."):
        planned = [plan(inventory, instances, ctx, count) for ctx in contexts]
    for ctx, row in zip(contexts, planned, strict=True):
        n = max(row.sentences, 1)
        usd = money(row, ctx)
        low, high = row.total
        rows.append(
            [
                row.strategy,
                _span(low.calls, high.calls),
                _span(row.low.calls / n, row.high.calls / n, ".2f"),
                _span(row.calibration[0].calls, row.calibration[1].calls),
                _span(low.prompt_tokens, high.prompt_tokens),
                _span(low.completion_tokens, high.completion_tokens),
                "-" if usd is None else _dollars(*usd),
            ]
        )
    headers = [
        "strategy",
        "LLM calls",
        "calls/sentence",
        "of which calibration",
        "prompt tokens",
        "completion tokens",
        "cost",
    ]
    models = " and ".join(
        dict.fromkeys(contexts[0].model_name(role) for role in ("extraction", "verification"))
    )
    title = f"plan for {len(instances)} sentences of {input} with {models} (tokens: {_methods(count)})"
    print_rows(Rows(title=title, headers=headers, rows=rows))
    if contexts[0].model_name("extraction") != contexts[0].model_name("verification"):
        print_rows(_by_role(contexts, planned))
    if all(money(row, ctx) is None for ctx, row in zip(contexts, planned, strict=True)):
        console.print(
            "cost: no price for this model: set price_prompt_per_million and price_completion_per_million "
            "(USD) in the config",
            highlight=False,
        )


def _by_role(contexts: list[MbreContext], planned: list[PlanRow]) -> Rows:
    """Each strategy's cost per role, each at its own model's price."""
    from mbre.run.plan import role_money

    rows = []
    for ctx, row in zip(contexts, planned, strict=True):
        for role, (low, high) in row.roles.items():
            usd = role_money(ctx, role, (low, high))
            rows.append(
                [
                    row.strategy,
                    role,
                    ctx.model_name(role),
                    _span(low.calls, high.calls),
                    _span(low.prompt_tokens, high.prompt_tokens),
                    "-" if usd is None else _dollars(*usd),
                ]
            )
    headers = ["strategy", "role", "model", "LLM calls", "prompt tokens", "cost"]
    return Rows(title="by role", headers=headers, rows=rows)


def _counting(count: Counters) -> str:
    """What counting asks, said before it starts: the embedded server may have to start first."""
    where = sorted({counter.where for counter in count.values() if counter.where is not None})
    if not where:
        return "counting prompt tokens at ~4 characters a token (no LLM call)"
    started = " (started if it is not running)" if "the embedded server" in where else ""
    return f"counting prompt tokens with {' and '.join(where)}{started}: no LLM call"


def _methods(count: Counters) -> str:
    """How the tokens were counted, after counting (a failed tokenizer falls back to the estimate)."""
    methods = {role: counter.method for role, counter in count.items()}
    if len(set(methods.values())) == 1:
        return next(iter(methods.values()))
    return "; ".join(f"{role} {method}" for role, method in methods.items())


def _span(low: float, high: float, fmt: str = ",.0f", unit: str = "") -> str:
    if f"{low:{fmt}}" == f"{high:{fmt}}":
        return f"{unit}{low:{fmt}}"
    return f"{unit}{low:{fmt}} .. {unit}{high:{fmt}}"


def _dollars(low: float, high: float) -> str:
    """A money span, to the cent, or to a hundredth of a cent below a dollar (a small corpus's cost)."""
    return _span(low, high, ".2f" if high >= 1 else ".4f", "$")
