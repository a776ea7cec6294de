"""The two questions M-BRe asks a model, rendered with their demonstrations and asked as multiple choice:
a group's relations as lettered options, and one relation as yes or no."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from langchain_core.messages import BaseMessage

from mbre.graph.context import MbreContext
from mbre.inventory.inventory import Inventory
from mbre.llm.providers import chat_model_for, sampling_models
from mbre.llm.structured import (
    Answer,
    Choice,
    ask_choice,
    ask_sampled,
    ask_verbalized,
    without_probabilities,
)
from mbre.prompts.render import (
    answer_tokens,
    extraction_messages,
    verbalized_messages,
    verification_messages,
)
from mbre.schemas.answers import YES_NO, option_letters
from mbre.schemas.instances import Instance
from mbre.schemas.options import Role

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

    def shown(order: Sequence[int]) -> list[BaseMessage]:
        """The question with the labels in `order` ("none", the last choice, stays last)."""
        ordered = [labels[i] for i in order[:-1]]
        return extraction_messages(inventory.schema, ordered, instance, demonstrations)

    choices = option_letters(len(labels) + 1)
    return _ask(ctx, "extraction", shown(range(len(choices))), choices, "extract", calibration, reorder=shown)


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
    return _ask(
        ctx,
        "verification",
        verification_messages(inventory.schema, label, instance, demonstrations),
        YES_NO,
        "verify",
        calibration,
    )


def _ask(
    ctx: MbreContext,
    role: Role,
    messages: list[BaseMessage],
    choices: Sequence[str],
    template: str,
    calibration: bool,
    reorder: Callable[[Sequence[int]], list[BaseMessage]] | None = None,
) -> Answer[Choice]:
    """Ask the role's model question `template` ("extract" or "verify"), its confidence from where the run
    takes it (`confidence`): the answer's token probabilities, the agreement of sampled answers, the
    confidence the model states, or none. `reorder`: the question with its choices in another order,
    for samples that rotate them (`confidence_order`)."""
    metadata = _CALIBRATION if calibration else None
    max_tokens = answer_tokens(template, verbalized=ctx.confidence == "verbalized")
    if ctx.confidence == "verbalized":
        return ask_verbalized(
            chat_model_for(ctx, role),
            verbalized_messages(messages, template, choices),
            choices,
            max_tokens=max_tokens,
            retries=ctx.parse_retries,
            metadata=metadata,
        )
    if ctx.confidence == "sampled":
        models = sampling_models(ctx, role)
        orders = None
        asked = [messages] * len(models)
        if reorder is not None and ctx.confidence_order == "rotated":
            orders = rotations(len(choices), len(models))
            asked = [reorder(order) for order in orders]
        return ask_sampled(
            models,
            asked,
            choices,
            max_tokens=max_tokens,
            retries=ctx.parse_retries,
            metadata=metadata,
            orders=orders,
        )
    answer = ask_choice(
        chat_model_for(ctx, role),
        messages,
        choices,
        max_tokens=max_tokens,
        retries=ctx.parse_retries,
        metadata=metadata,
    )
    return without_probabilities(answer) if ctx.confidence == "none" else answer


def rotations(choices: int, samples: int) -> list[tuple[int, ...]]:
    """Each sample's order of `choices` options: the last ("none") stays last, the others shift by k/K of
    them for sample k, so each option is shown at as many different positions as the samples allow.
    Sample 0 keeps the given order (and shares its cached answer with an unrotated run)."""
    n = choices - 1
    return [(*((i + round(k * n / samples)) % n for i in range(n)), n) for k in range(samples)]
