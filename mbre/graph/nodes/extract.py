"""Extraction node: one multi-class prompt for one group, answered in a schema-constrained enum."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from mbre.graph.context import MbreContext
from mbre.graph.state import ExtractionTask
from mbre.inventory.inventory import Inventory
from mbre.llm.providers import chat_model_for
from mbre.llm.structured import ask
from mbre.prompts.render import extraction_messages
from mbre.schemas.answers import NONE_LABEL, group_answer_model
from mbre.schemas.results import Extraction


def extract(task: ExtractionTask, runtime: Runtime[MbreContext], *, inventory: Inventory) -> dict[str, Any]:
    ctx = runtime.context
    messages = extraction_messages(inventory.schema, task.labels, task.instance)
    answer = ask(
        chat_model_for(ctx, "extraction"),
        messages,
        group_answer_model(tuple(task.labels)),
        field="label",
        retries=ctx.parse_retries,
    )
    label = getattr(answer.parsed, "label", None)
    extraction = Extraction(
        group=task.group,
        labels=task.labels,
        label=None if label in (None, NONE_LABEL) else label,
        confidence=answer.confidence,
        abstained=answer.parsed is None,
        raw=answer.raw,
        error=answer.error,
    )
    runtime.stream_writer(
        {
            "event": "llm",
            "node": "extract",
            "id": task.instance.id,
            "calls": answer.usage.calls,
            "usage": answer.usage.model_dump(),
        }
    )
    return {"extractions": [extraction], "usage": answer.usage}
