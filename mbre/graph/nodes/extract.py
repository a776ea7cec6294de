"""Extraction node: one group's multiple-choice question, answered by a letter and its distribution."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from mbre.graph.calibration import divide_out, group_prior
from mbre.graph.context import MbreContext
from mbre.graph.questions import ask_group
from mbre.graph.state import ExtractionTask
from mbre.inventory.inventory import Inventory
from mbre.schemas.results import Extraction


def extract(task: ExtractionTask, runtime: Runtime[MbreContext], *, inventory: Inventory) -> dict[str, Any]:
    ctx = runtime.context
    answer = ask_group(inventory, ctx, task.labels, task.instance)
    choice = answer.parsed
    probabilities = list(choice.probabilities) if choice and choice.probabilities else None
    calibrated = None
    if probabilities is not None and ctx.calibrate:
        prior = group_prior(inventory, ctx, task.group, task.labels)
        calibrated = divide_out(probabilities, prior) if prior is not None else None
    extraction = Extraction(
        group=task.group,
        labels=task.labels,
        label=task.labels[choice.index] if choice and choice.index < len(task.labels) else None,
        confidence=answer.confidence,
        probabilities=probabilities,
        calibrated=calibrated,
        abstained=choice is None,
        raw=answer.raw,
        error=answer.error,
        source=answer.source,
    )
    runtime.stream_writer(
        {"event": "llm", "node": "extract", "id": task.instance.id, "usage": answer.usage.model_dump()}
    )
    return {"extractions": [extraction], "usage": answer.usage}
