"""The graph's state for one sentence: input, working state and output schemas."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Annotated

from mbre.schemas.instances import Instance, parse_instance
from mbre.schemas.results import Decision, Extraction, Usage, Verdict


@dataclass(kw_only=True)
class InputState:
    """What a caller passes in."""

    instance: Instance
    """The sentence, with its head and tail spans."""

    def __post_init__(self) -> None:
        if isinstance(self.instance, dict):  # JSON in the input format, as a server (langgraph dev) sends
            self.instance = parse_instance(self.instance, source="input instance", line=1)


@dataclass(kw_only=True)
class State(InputState):
    """Everything the nodes share while one sentence is being labelled."""

    ranking: list[str] = field(default_factory=list)
    """Positive labels, nearest to the sentence first (FAISS retrieval)."""
    groups: list[int] = field(default_factory=list)
    """The groups to ask, in routing order; each gets one multi-class prompt."""
    offered: list[str] | None = None
    """Type-narrowed: the positive labels the pair's entity types fit, the only ones asked; None: all."""
    extractions: Annotated[list[Extraction], operator.add] = field(default_factory=list)
    """One answer per asked group; parallel extraction nodes append here."""
    candidates: list[str] = field(default_factory=list)
    """Candidate labels for binary verification, in order; the next one is `candidates[len(verdicts)]`."""
    widened: int = 0
    """Labels added to `candidates` because no candidate verified so far reached its threshold."""
    verdicts: Annotated[list[Verdict], operator.add] = field(default_factory=list)
    """Binary verdicts so far, in the order they were asked."""
    usage: Annotated[Usage, operator.add] = field(default_factory=Usage)
    """LLM calls and tokens spent on this sentence."""
    decision: Decision | None = None

    def answered_in_routing_order(self) -> list[Extraction]:
        """The group answers, nearest group first: parallel extractions finish in any order."""
        order = {group: rank for rank, group in enumerate(self.groups)}
        return sorted(self.extractions, key=lambda e: order.get(e.group, len(order)))


@dataclass(kw_only=True)
class ExtractionTask:
    """What one parallel extraction node receives through `Send`."""

    instance: Instance
    group: int
    """Index of the group in the grouping (-1: all labels at once, the multiclass baseline)."""
    labels: list[str]


@dataclass(kw_only=True)
class OutputState:
    """What a caller gets back."""

    decision: Decision
    """The label, its confidence and every step that led to it."""
