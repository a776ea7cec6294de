"""What the graph produces: per-call answers, the label decision and the provenance of each sample."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    computed_field,
    model_serializer,
)

from mbre.schemas.answers import NONE_LABEL
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
    reused_prompt_tokens: int = 0
    """Prompt tokens sent that the server took from its own prompt cache (llama-server's slots, a
    provider's prompt caching), as it reported: a shared prefix it did not process again."""

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form; mypy rejects it
    @property
    def cached_tokens(self) -> int:
        """Prompt and completion tokens served from the cache, i.e. not spent."""
        return self.cached_prompt_tokens + self.cached_completion_tokens

    @property
    def billed_prompt_tokens(self) -> int:
        return self.prompt_tokens - self.cached_prompt_tokens

    @property
    def processed_prompt_tokens(self) -> int:
        """Prompt tokens the model really evaluated: sent, less those its prompt cache held."""
        return self.billed_prompt_tokens - self.reused_prompt_tokens

    @property
    def billed_completion_tokens(self) -> int:
        return self.completion_tokens - self.cached_completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields})

    def __sub__(self, other: Usage) -> Usage:
        """What was spent since `other`, a snapshot of the same running total."""
        return Usage(**{name: getattr(self, name) - getattr(other, name) for name in Usage.model_fields})


class Extraction(BaseModel):
    """One group's multiple-choice answer: a label of the asked group, or None for "none of these"."""

    model_config = ConfigDict(frozen=True)

    group: int
    labels: list[str] = Field(description="The labels the prompt offered, in prompt order; 'none' is last.")
    label: str | None
    """The label the model answered with; None for "none of these" and for abstentions."""
    confidence: float | None = Field(description="The model's probability of its answer; None if unknown.")
    probabilities: list[float] | None = None
    """The model's distribution over `labels` and "none" (last), from its answer's first token; None when
    the provider gives no logprobs."""
    calibrated: list[float] | None = None
    """`probabilities` with the question's own bias divided out (its answers on content-free sentences),
    renormalised: what the sentence, not the option's letter or wording, makes likely."""
    abstained: bool = False
    """True when no parseable answer came back after the retry; `raw` keeps what did."""
    raw: str | None = None
    error: str | None = None
    """Why the last answer did not parse, for abstentions."""
    source: str | None = None
    """Where `probabilities` come from: "logprobs", "sampled:K", "verbalized" or "none"; None in older
    runs."""

    def distribution(self) -> dict[str, float]:
        """Label (and "none") -> the best known probability: calibrated, else the model's, else the
        answer alone (1 for it). Empty for an abstention."""
        options = [*self.labels, NONE_LABEL]
        values = self.calibrated or self.probabilities
        if values is not None:
            return dict(zip(options, values, strict=True))
        if self.abstained:
            return {}
        answer = self.label or NONE_LABEL
        return {option: float(option == answer) for option in options}


class Verdict(BaseModel):
    """One binary verification of a candidate label."""

    model_config = ConfigDict(frozen=True)

    label: str
    holds: bool
    """The model answered yes."""
    confidence: float | None = None
    """The model's probability of its answer (yes or no)."""
    p_yes: float | None = None
    """The model's probability of yes against no; None without logprobs."""
    calibrated: float | None = None
    """`p_yes` with the question's own bias divided out (its odds of yes on content-free sentences)."""
    abstained: bool = False
    raw: str | None = None
    error: str | None = None
    source: str | None = None
    """Where `p_yes` comes from: "logprobs", "sampled:K", "verbalized" or "none"; None in older runs."""

    def support(self) -> float | None:
        """The best known probability that the label holds: calibrated, else the model's, else 1 or 0 by
        the answer; None for an abstention."""
        if self.abstained:
            return None
        for value in (self.calibrated, self.p_yes):
            if value is not None:
                return value
        return float(self.holds)


DecisionRule = Literal[
    "no_candidate",  # nothing was proposed or nothing verified: the no-relation label
    "single",  # exactly one candidate verified
    "most_confident",  # several verified; the most confident one at or above 1 - epsilon
    "ambiguous",  # several verified, none confident enough: abstain rather than guess
    "first_verified",  # decision="first": the first verified candidate in retrieval order
    "multiclass",  # the multiclass baseline's single answer
    "scored",  # decision="calibrated": the best-scored candidate, at or above its threshold
    "below_threshold",  # decision="calibrated": no candidate reaches its threshold: the no-relation label
    "abstained",  # every LLM answer failed to parse: no label
    "unscored",  # decision="calibrated" without any probability (confidence="none"): the first verified
]


class Decision(BaseModel):
    """The label of one sentence, with everything that led to it."""

    model_config = ConfigDict(frozen=True)

    label: str | None = Field(description="The decided label; None when the pipeline abstained.")
    confidence: float | None
    rule: DecisionRule
    candidates: list[str] = Field(default_factory=list)
    scores: dict[str, float] = Field(default_factory=dict)
    """decision="calibrated": each candidate's score, which its threshold is held against."""
    extractions: list[Extraction] = Field(default_factory=list)
    verdicts: list[Verdict] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    offered: list[str] | None = None
    """Type-narrowed: the positive labels the pair's entity types fit, the only ones the questions offered
    (empty: none fits, so none was asked); None: every label was offered."""

    @model_serializer(mode="wrap")
    def _omit_unnarrowed(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A decision over every label is written as before narrowing: recorded samples keep their bytes.
        data = handler(self)
        if self.offered is None and isinstance(data, dict):
            data.pop("offered", None)
        return data

    @property
    def abstentions(self) -> int:
        return sum(e.abstained for e in self.extractions) + sum(v.abstained for v in self.verdicts)

    def confidence_source(self) -> str | None:
        """Where the answers' probabilities came from, the weakest when they differ (a role on another
        model): "none" before "verbalized" before "sampled:K" before "logprobs". None when no answer
        recorded one."""
        answers: list[Extraction | Verdict] = [*self.extractions, *self.verdicts]
        sources = {answer.source for answer in answers if not answer.abstained and answer.source}
        return min(sources, key=_strength, default=None)


def _strength(source: str) -> int:
    """A stated confidence ranks below agreement: models tend to state more certainty than they have."""
    if source == "logprobs":
        return 3
    if source.startswith("sampled"):
        return 2
    return 1 if source == "verbalized" else 0


class Provenance(BaseModel):
    """Enough to reproduce a sample: which model, prompts, inventory and grouping produced it."""

    model_config = ConfigDict(frozen=True)

    model: str
    extraction_model: str | None = None
    """The model of the group questions; None in runs made before it was recorded."""
    verification_model: str | None = None
    """The model of the verifications; None in runs made before it was recorded."""
    strategy: Strategy
    decision_policy: DecisionPolicy
    epsilon: float
    threshold: float = 0.5
    thresholds: tuple[tuple[str, float], ...] = ()
    """Per-label thresholds that overrode `threshold`."""
    group_weight: float = 1.0
    """decision="calibrated": the weight of M-BRe's group answers in a score (1 before it was a setting)."""
    prompt_hash: str
    schema_hash: str
    grouping_hash: str
    demonstrations_hash: str = ""
    """sha256 of the examples the prompts could show (the schema's and the seeds')."""
    shots: int = 0
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
    confidence_source: str | None = None
    """Where the confidence comes from: "logprobs", "sampled:K", "verbalized" or "none"; None in runs made
    before it was recorded."""
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
            confidence_source=decision.confidence_source() or "none",
            gold=instance.relation,
            decision=decision,
            provenance=provenance,
        )
