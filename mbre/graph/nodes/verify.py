"""Binary verifier node: asks one yes/no question about the next candidate not yet verified."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from mbre.graph.context import MbreContext
from mbre.graph.state import State
from mbre.inventory.inventory import Inventory
from mbre.llm.providers import chat_model_for
from mbre.llm.structured import ask_yes_no
from mbre.prompts.render import verification_messages
from mbre.schemas.results import Verdict


def verify(state: State, runtime: Runtime[MbreContext], *, inventory: Inventory) -> dict[str, Any]:
    ctx = runtime.context
    label = state.candidates[len(state.verdicts)]
    messages = verification_messages(inventory.schema, label, state.instance)
    answer = ask_yes_no(chat_model_for(ctx, "verification"), messages, retries=ctx.parse_retries)
    parsed = answer.parsed
    verdict = Verdict(
        label=label,
        holds=parsed is not None and parsed.answer == "yes",
        evidence=parsed.evidence if parsed is not None else "",
        confidence=answer.confidence,
        abstained=parsed is None,
        raw=answer.raw,
        error=answer.error,
    )
    runtime.stream_writer(
        {
            "event": "llm",
            "node": "verify",
            "id": state.instance.id,
            "calls": answer.usage.calls,
            "usage": answer.usage.model_dump(),
        }
    )
    return {"verdicts": [verdict], "usage": answer.usage}
