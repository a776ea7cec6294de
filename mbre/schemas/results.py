"""What the graph produces: per-call answers, the label decision and the provenance of each sample."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from mbre.schemas.instances import Instance, Span
from mbre.schemas.options import DecisionPolicy, Strategy


class Usage(BaseModel):
    """LLM cost of one step or of a whole sentence; added up by the graph's reducer.

    `calls` and the token counts are what the graph asked for, answers from the LLM-call cache included,
    so they do not change when a run is repeated; what was billed is those less the cached part."""

    model_config = ConfigDict(frozen=True)

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_calls: int = 0
    """Calls answered from the LLM-call cache: no request was sent."""
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    retries: int = 0
    """Requests sent again after a transient error (rate limit, server error, connection, timeout)."""

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy rejects it
    @property
    def cached_tokens(self) -> int:
        """Prompt and completion tokens served from the cache, i.e. not spent."""
        return self.cached_prompt_tokens + self.cached_completion_tokens

    @property
    def billed_prompt_tokens(self) -> int:
        return self.prompt_tokens - self.cached_prompt_tokens

    @property
    def billed_completion_tokens(self) -> int:
        return self.completion_tokens - self.cached_completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields})


class Extraction(BaseModel):
    """One multi-class answer: a label of the asked group, or None for "none of these"."""

    model_config = ConfigDict(frozen=True)

    group: int
    labels: list[str] = Field(description="The labels the prompt offered, in prompt order.")
    label: str | None
    confidence: float | None = Field(description="Mean top-token probability of the answer; None if unknown.")
    abstained: bool = False
    """True when no parseable answer came back after the retry; `raw` keeps what did."""
    raw: str | None = None
    error: str | None = None
    """Why the last answer did not parse, for abstentions."""


class Verdict(BaseModel):
    """One binary verification of a candidate label."""

    model_config = ConfigDict(frozen=True)

    label: str
    holds: bool
    evidence: str = ""
    confidence: float | None = None
    abstained: bool = False
    raw: str | None = None
    error: str | None = None


DecisionRule = Literal[
    "no_candidate",  # nothing was proposed or nothing verified: the no-relation label
    "single",  # exactly one candidate verified
    "most_confident",  # several verified; the most confident one at or above 1 - epsilon
    "ambiguous",  # several verified, none confident enough: abstain rather than guess
    "first_verified",  # decision="first": the first verified candidate in retrieval order
    "multiclass",  # the multiclass baseline's single answer
    "abstained",  # every LLM answer failed to parse: no label
]


class Decision(BaseModel):
    """The label of one sentence, with everything that led to it."""

    model_config = ConfigDict(frozen=True)

    label: str | None = Field(description="The decided label; None when the pipeline abstained.")
    confidence: float | None
    rule: DecisionRule
    candidates: list[str] = Field(default_factory=list)
    extractions: list[Extraction] = Field(default_factory=list)
    verdicts: list[Verdict] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)

    @property
    def abstentions(self) -> int:
        return sum(e.abstained for e in self.extractions) + sum(v.abstained for v in self.verdicts)


class Provenance(BaseModel):
    """Enough to reproduce a sample: which model, prompts, inventory and grouping produced it."""

    model_config = ConfigDict(frozen=True)

    model: str
    strategy: Strategy
    decision_policy: DecisionPolicy
    epsilon: float
    prompt_hash: str
    schema_hash: str
    grouping_hash: str
    mbre_version: str


class Sample(BaseModel):
    """One output line: the sentence in the input format, its label, and how it was found. The input
    line's other fields (`doc_id`, ...) follow at the top level, as they were (`extra`)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str
    text: str
    head: Span
    tail: Span
    relation: str | None = Field(description="The discovered label (None: abstained).")
    confidence: float | None
    gold: str | None = Field(default=None, description="The input's own label, if it had one.")
    decision: Decision
    provenance: Provenance

    @property
    def extra(self) -> dict[str, Any]:
        """The input line's fields that mbre carried through (see `Instance.extra`)."""
        return dict(self.model_extra or {})

    @classmethod
    def from_decision(cls, instance: Instance, decision: Decision, provenance: Provenance) -> Sample:
        return cls(
            **instance.extra,
            id=instance.id,
            text=instance.text,
            head=instance.head,
            tail=instance.tail,
            relation=decision.label,
            confidence=decision.confidence,
            gold=instance.relation,
            decision=decision,
            provenance=provenance,
        )
