"""The JSON shapes the LLM must answer in. Constrained decoding enforces them where the server can."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, Field, create_model

#: The extraction answer for "none of this group's relations".
NONE_LABEL = "none"


@cache
def group_answer_model(labels: tuple[str, ...]) -> type[BaseModel]:
    """A model whose `label` is an enum of exactly this group's labels plus "none", so no
    out-of-schema label can come back, whatever the sentence says."""
    options = Literal[(*labels, NONE_LABEL)]  # type: ignore[valid-type]  # built at run time, per group
    return create_model(
        "GroupAnswer",
        __doc__="The one relation of the listed group that holds from the head to the tail, or none.",
        label=(options, Field(description="One of the listed labels, or 'none'.")),
    )


class VerifyAnswer(BaseModel):
    """A parsed yes/no verification: the answer, and whatever the model said after it."""

    answer: Literal["yes", "no"]
    evidence: str = Field(default="", max_length=200)
