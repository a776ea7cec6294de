"""The two questions M-BRe asks a model, rendered with their demonstrations and asked as multiple choice:
a group's relations as lettered options, and one relation as yes or no."""

from __future__ import annotations

from collections.abc import Sequence

from mbre.graph.context import MbreContext
from mbre.inventory.inventory import Inventory
from mbre.llm.providers import chat_model_for
from mbre.llm.structured import Answer, Choice, ask_choice
from mbre.prompts.render import answer_tokens, extraction_messages, verification_messages
from mbre.schemas.answers import YES_NO, option_letters
from mbre.schemas.instances import Instance

#: Marks a content-free question in callbacks and the trace: it serves the whole run, no one sentence.
_CALIBRATION = {"mbre_calibration": True, "mbre_id": None}


def ask_group(
    inventory: Inventory,
    ctx: MbreContext,
    labels: Sequence[str],
    instance: Instance,
    *,
    calibration: bool = False,
) -> Answer[Choice]:
    """Which of `labels`, or none (the last choice), holds for the sentence."""
    demonstrations = inventory.demonstrations.for_labels(labels, instance, ctx.shots)
    return ask_choice(
        chat_model_for(ctx, "extraction"),
        extraction_messages(inventory.schema, labels, instance, demonstrations),
        option_letters(len(labels) + 1),
        max_tokens=answer_tokens("extract"),
        retries=ctx.parse_retries,
        metadata=_CALIBRATION if calibration else None,
    )


def ask_verification(
    inventory: Inventory,
    ctx: MbreContext,
    label: str,
    instance: Instance,
    *,
    calibration: bool = False,
) -> Answer[Choice]:
    """Whether `label` holds for the sentence: yes (choice 0) or no."""
    demonstrations = inventory.demonstrations.for_labels([label], instance, ctx.shots)
    return ask_choice(
        chat_model_for(ctx, "verification"),
        verification_messages(inventory.schema, label, instance, demonstrations),
        YES_NO,
        max_tokens=answer_tokens("verify"),
        retries=ctx.parse_retries,
        metadata=_CALIBRATION if calibration else None,
    )
