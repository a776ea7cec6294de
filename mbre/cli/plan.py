"""`mbre plan`: what labelling a corpus will cost under each strategy, before any LLM call."""

from __future__ import annotations

from typing import Annotated

import typer

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
    """Estimate LLM calls and tokens (and money, with a price table) for --input, without any LLM call."""
    from mbre.llm.tokens import CHARS_PER_TOKEN
    from mbre.run.budget import cost_usd
    from mbre.run.config import load_context
    from mbre.run.plan import plan
    from mbre.schemas.results import Usage

    names = parse_strategies(strategies)
    inventory = load_inventory(relations, no_relation, None, True, grouping)
    instances, _, _ = read_input(input, on_bad_input)
    contexts = [load_context(config, strategy=name, route_top_k=route_top_k) for name in names]
    rows = []
    for ctx in contexts:
        row = plan(inventory, instances, ctx)
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
    title = f"plan for {len(instances)} sentences of {input} (tokens ~{CHARS_PER_TOKEN} chars each)"
    print_rows(Rows(title=title, headers=headers, rows=rows))


def _span(low: float, high: float, fmt: str = ",.0f", unit: str = "") -> str:
    if f"{low:{fmt}}" == f"{high:{fmt}}":
        return f"{unit}{low:{fmt}}"
    return f"{unit}{low:{fmt}} .. {unit}{high:{fmt}}"
