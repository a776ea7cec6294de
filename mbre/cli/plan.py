"""`mbre plan`: what labelling a corpus will cost under each strategy, before any LLM call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mbre.cli.console import console
from mbre.cli.options import (
    ConfigOpt,
    GroupingOpt,
    InputOpt,
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
    from mbre.run.plan import Counters


def plan_command(
    relations: RelationsOpt,
    input: InputOpt,
    config: ConfigOpt = None,
    strategies: Annotated[str, typer.Option(help="Comma-separated strategies to price.")] = ",".join(
        STRATEGIES
    ),
    route_top_k: RouteTopKOpt = None,
    grouping: GroupingOpt = None,
    no_relation: NoRelationOpt = None,
    on_bad_input: OnBadInputOpt = "fail",
) -> None:
    """Estimate LLM calls and tokens (and money, with a price table) for --input, without any LLM call.
    Tokens are counted by the model's own tokenizer, chat template included: the embedded model's server
    (started if it is not running), a llama.cpp server's /tokenize, or tiktoken for OpenAI; else at about
    4 characters a token. The title says which."""
    from mbre.run.budget import cost_usd
    from mbre.run.config import load_context
    from mbre.run.plan import counters, plan
    from mbre.schemas.results import Usage

    names = parse_strategies(strategies)
    inventory = load_inventory(relations, no_relation, None, True, grouping)
    instances, _, _ = read_input(input, on_bad_input)
    contexts = [load_context(config, strategy=name, route_top_k=route_top_k) for name in names]
    count = counters(contexts[0])  # the strategies share the models, so their counters and counts
    rows = []
    console.print(_counting(count), highlight=False)
    with console.status("counting prompt tokens ..."):
        planned = [plan(inventory, instances, ctx, count) for ctx in contexts]
    for ctx, row in zip(contexts, planned, strict=True):
        n = max(row.sentences, 1)
        low, high = (
            cost_usd(Usage(prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens), ctx)
            for c in (row.low, row.high)
        )
        rows.append(
            [
                row.strategy,
                _span(row.low.calls, row.high.calls),
                _span(row.low.calls / n, row.high.calls / n, ".2f"),
                _span(row.low.prompt_tokens, row.high.prompt_tokens),
                _span(row.low.completion_tokens, row.high.completion_tokens),
                "-" if low is None or high is None else _span(low, high, ".2f", "$"),
            ]
        )
    headers = ["strategy", "LLM calls", "calls/sentence", "prompt tokens", "completion tokens", "cost"]
    title = f"plan for {len(instances)} sentences of {input} (tokens: {_methods(count)})"
    print_rows(Rows(title=title, headers=headers, rows=rows))


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
