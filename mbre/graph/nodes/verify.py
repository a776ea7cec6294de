"""Binary verifier node: asks one yes/no question about the next candidate not yet verified."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from mbre.graph.calibration import divide_out_yes, yes_prior
from mbre.graph.context import MbreContext
from mbre.graph.questions import ask_verification
from mbre.graph.state import State
from mbre.inventory.inventory import Inventory
from mbre.schemas.results import Verdict


def verify(state: State, runtime: Runtime[MbreContext], *, inventory: Inventory) -> dict[str, Any]:
    ctx = runtime.context
    label = state.candidates[len(state.verdicts)]
    answer = ask_verification(inventory, ctx, label, state.instance)
    choice = answer.parsed
    p_yes = choice.probabilities[0] if choice and choice.probabilities else None
    calibrated = None
    if p_yes is not None and ctx.calibrate:
        prior = yes_prior(inventory, ctx, label)
        calibrated = divide_out_yes(p_yes, prior) if prior is not None else None
    verdict = Verdict(
        label=label,
        holds=choice is not None and choice.index == 0,
        confidence=answer.confidence,
        p_yes=p_yes,
        calibrated=calibrated,
        abstained=choice is None,
        raw=answer.raw,
        error=answer.error,
        source=answer.source,
    )
    runtime.stream_writer(
        {"event": "llm", "node": "verify", "id": state.instance.id, "usage": answer.usage.model_dump()}
    )
    return {"verdicts": [verdict], "usage": answer.usage}
