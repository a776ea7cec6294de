"""Label decision node (M-BRe step 3): from the scored or verified candidates to one label, or an honest
abstention."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from mbre.graph.context import MbreContext
from mbre.graph.decision import Decided, decide_label
from mbre.graph.state import State
from mbre.inventory.inventory import Inventory
from mbre.schemas.results import Decision


def decide(state: State, runtime: Runtime[MbreContext], *, inventory: Inventory) -> dict[str, Any]:
    ctx = runtime.context
    decided = Decided(inventory.schema.no_relation_label, None, "no_candidate", {})
    if state.offered != []:  # the pair's types fit no relation: nothing was asked, none holds
        decided = decide_label(
            strategy=ctx.strategy,
            policy=ctx.decision,
            epsilon=ctx.epsilon,
            no_relation=inventory.schema.no_relation_label,
            extractions=state.extractions,
            verdicts=state.verdicts,
            threshold=ctx.threshold,
            thresholds=dict(ctx.thresholds),
            group_weight=ctx.group_weight,
        )
    decision = Decision(
        label=decided.label,
        confidence=decided.confidence,
        rule=decided.rule,
        candidates=state.candidates,
        scores=decided.scores,
        extractions=state.extractions,
        verdicts=state.verdicts,
        usage=state.usage,
        offered=state.offered,
    )
    runtime.stream_writer(
        {"event": "decided", "id": state.instance.id, "label": decided.label, "rule": decided.rule}
    )
    return {"decision": decision}
