"""Spend limits: `--budget 200000` (tokens) or `--budget 5usd` (money, priced by the config's price table).

Only billed usage counts: answers served from the LLM-call cache cost nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mbre.errors import SettingError
from mbre.graph.context import MbreContext
from mbre.schemas.results import Usage

_BUDGET = re.compile(
    r"^\s*(?:\$\s*(?P<dollars>[0-9.]+)|(?P<amount>[0-9.]+)\s*(?P<unit>usd|\$|tokens?|k|m)?)\s*$"
)


@dataclass(frozen=True)
class Budget:
    """At most `tokens` billed tokens, or at most `dollars` of billed tokens."""

    tokens: int | None = None
    dollars: float | None = None

    def spent(self, usage: Usage, ctx: MbreContext) -> float:
        if self.tokens is not None:
            return usage.billed_prompt_tokens + usage.billed_completion_tokens
        return cost_usd(usage, ctx) or 0.0

    def limit(self) -> float:
        return float(self.tokens if self.tokens is not None else self.dollars or 0.0)

    def reached(self, usage: Usage, ctx: MbreContext) -> bool:
        return self.spent(usage, ctx) >= self.limit()

    def describe(self) -> str:
        return f"{self.tokens} tokens" if self.tokens is not None else f"${self.dollars:.2f}"


def parse_budget(text: str, ctx: MbreContext) -> Budget:
    """`200000`, `200k`, `1.5m` tokens; `5usd` or `$5` needs the price table (price_*_per_million)."""
    match = _BUDGET.match(text.lower())
    neither = SettingError(f"budget {text!r} is neither tokens (200000, 200k, 1.5m) nor money (5usd, $5)")
    if match is None:
        raise neither
    try:
        amount = float(match["dollars"] or match["amount"])  # the pattern lets "1.2.3" through
    except ValueError:
        raise neither from None
    if amount <= 0:
        raise SettingError(f"budget {text!r} allows nothing: give more than 0")
    if match["dollars"] is not None or match["unit"] in ("usd", "$"):
        if ctx.price_prompt_per_million is None or ctx.price_completion_per_million is None:
            raise SettingError(
                f"a money budget ({text!r}) needs prices: set price_prompt_per_million and "
                "price_completion_per_million (USD per million tokens) in mbre.toml"
            )
        return Budget(dollars=amount)
    scale = {"k": 1_000, "m": 1_000_000}.get(match["unit"] or "", 1)
    return Budget(tokens=int(amount * scale))


def cost_usd(usage: Usage, ctx: MbreContext) -> float | None:
    """The billed cost by the price table; None without one."""
    if ctx.price_prompt_per_million is None or ctx.price_completion_per_million is None:
        return None
    return (
        usage.billed_prompt_tokens * ctx.price_prompt_per_million
        + usage.billed_completion_tokens * ctx.price_completion_per_million
    ) / 1_000_000
