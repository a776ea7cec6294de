"""Spend limits: `--budget 200000` (tokens) or `--budget 5usd` (money, priced by the config's price table).

Only billed usage counts: answers served from the LLM-call cache cost nothing. Every call reserves its
most before it is sent (its prompt counted by the model's tokenizer, plus the call's max completion
tokens) and settles with its real usage when it returns (`Meter`). A call whose reservation does not fit
beside what is spent and held waits for the calls in flight, the calls of the sentences started first
going first (so a tight budget finishes some sentences rather than starting all); when it does not fit
even with nothing in flight, the budget is reached: the call is not sent and its sentence stays
unfinished. So billed usage never passes the budget by more than what the counts underestimated of the
calls in flight (nothing, with an exact tokenizer).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import LLMResult

from mbre.errors import SettingError
from mbre.graph.context import MbreContext
from mbre.llm.structured import usage_of
from mbre.llm.tokens import token_counter
from mbre.schemas.options import Role
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


class BudgetReached(Exception):
    """A call the budget cannot pay for: it is not sent, and its sentence stays unfinished (the next
    invocation asks it again). Raised inside the graph, caught by the run."""


class _Refusals(logging.Filter):
    """langchain logs every exception a callback raises, as a warning, before raising it: a refusal is no
    error, and would print one line per call left unsent."""

    def filter(self, record: logging.LogRecord) -> bool:
        return BudgetReached.__name__ not in record.getMessage()


_REFUSALS = _Refusals()


class Meter(BaseCallbackHandler):
    """Every LLM call of a run, billed: reserved before it is sent when there is a `budget`, settled when
    it returns. Thread-safe: one meter serves every call of a concurrent run, content-free calibration
    questions included (they inherit the run's callbacks). `billed` is what the provider billed, cached
    answers excluded and the calls of sentences left unfinished included."""

    raise_error = True  # a refusal must stop the call, not be logged
    # Only the model calls count. Under the async graph, langchain hands every other event of a sync
    # handler to an executor thread: some 60 a sentence, a tenth of mbre's CPU (docs/scale.md).
    ignore_chain = ignore_agent = ignore_retriever = ignore_custom_event = True

    def __init__(self, ctx: MbreContext, budget: Budget | None = None) -> None:
        self.ctx = ctx
        self.budget = budget
        self.billed = Usage()
        self.reached = False
        """Set once a call found no room: every later call is refused too."""
        self._held: dict[UUID, float] = {}
        self._waiting: dict[UUID, int] = {}
        """Calls waiting for room, by rank: the order their sentence made its first call (-1: a
        calibration question, which serves every sentence)."""
        self._ranks: dict[str, int] = {}
        self._changed = threading.Condition()
        logging.getLogger("langchain_core.callbacks.manager").addFilter(_REFUSALS)  # once: a set

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        if self.budget is None:
            return
        metadata = metadata or {}
        need = self._most(self.budget, messages[0], metadata, invocation_params or {})
        with self._changed:
            rank = self._rank(metadata.get("mbre_id"))
            self._waiting[run_id] = rank
            try:
                while not self.reached:
                    if rank == min(self._waiting.values()):  # the sentences started first finish first
                        spent = self.budget.spent(self.billed, self.ctx)
                        if spent + sum(self._held.values()) + need <= self.budget.limit():
                            self._held[run_id] = need
                            return
                        if not self._held:  # nothing in flight will free room: the budget is reached
                            self.reached = True
                            break
                    self._changed.wait()
            finally:
                del self._waiting[run_id]
                self._changed.notify_all()
        raise BudgetReached(f"budget of {self.budget.describe()} reached")

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kw: Any) -> None:
        generations = response.generations[0] if response.generations else []
        message = getattr(generations[0], "message", None) if generations else None
        usage = usage_of(message if isinstance(message, AIMessage) else None)
        with self._changed:
            self.billed = self.billed + usage
            self._held.pop(run_id, None)
            self._changed.notify_all()

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        with self._changed:  # a refused or failed request is not billed
            self._held.pop(run_id, None)
            self._changed.notify_all()

    def _rank(self, sentence: object) -> int:
        if not isinstance(sentence, str):
            return -1
        return self._ranks.setdefault(sentence, len(self._ranks))

    def _most(
        self, budget: Budget, messages: list[BaseMessage], metadata: dict[str, Any], params: dict[str, Any]
    ) -> float:
        """The most a call can cost: its prompt, counted, and every completion token it may generate."""
        role: Role = "verification" if metadata.get("langgraph_node") == "verify" else "extraction"
        prompt = token_counter(self.ctx, role).count(messages)
        completion = params.get("max_tokens") or params.get("max_completion_tokens") or self.ctx.max_tokens
        return budget.spent(Usage(calls=1, prompt_tokens=prompt, completion_tokens=completion), self.ctx)
