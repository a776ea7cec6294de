"""The choices a run is configured with, and how a setting declares that it changes the answers.

Plain `typing` only: the command line reads these to build its options, and must stay fast to start."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, get_args

Strategy = Literal["mbre", "multiclass", "binary"]
"""`mbre` (the paper), or the baselines `multiclass` (one prompt, all labels) and `binary` (one yes/no
prompt per label)."""
DecisionPolicy = Literal["calibrated", "paper", "first"]
"""`calibrated` scores candidates with calibrated probabilities; `paper` is the paper's rule exactly;
`first` takes the first verified candidate."""
Role = Literal["extraction", "verification"]
BadInputPolicy = Literal["fail", "skip"]
GoldFormat = Literal["auto", "jsonl", "semeval", "tacred"]
StudentKind = Literal["tfidf", "embeddings"]

STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
DECISION_POLICIES: tuple[DecisionPolicy, ...] = get_args(DecisionPolicy)
STUDENTS: tuple[StudentKind, ...] = get_args(StudentKind)
#: The thresholds the paper's analysis looks at, replayed by `mbre evaluate`.
EPSILONS = (0.001, 0.01, 0.02, 0.05, 0.1)

#: Field metadata key: the setting changes an answer or a decision (recorded in manifests and reports).
ANSWER = "answer"


def setting(default: Any, *, answer: bool = False) -> Any:
    """A settings-dataclass field; `answer=True` declares that changing it changes the labels, so a run
    directory refuses to resume under another value and reports record it."""
    return dataclasses.field(default=default, metadata={ANSWER: answer})


def answer_settings(settings: Any) -> dict[str, Any]:
    """The values of a settings dataclass's fields declared with `answer=True`, by name."""
    return {
        field.name: getattr(settings, field.name)
        for field in dataclasses.fields(settings)
        if field.metadata.get(ANSWER)
    }
