"""The choices a run is configured with, and how a setting declares that it changes the answers.

Plain `typing` only: the command line reads these to build its options, and must stay fast to start."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from mbre.errors import SettingError

Strategy = Literal["mbre", "multiclass", "binary"]
"""`mbre` (the paper), or the baselines `multiclass` (one prompt, all labels) and `binary` (one yes/no
prompt per label)."""
DecisionPolicy = Literal["calibrated", "paper", "first"]
"""`calibrated` scores candidates with calibrated probabilities; `paper` is the paper's rule exactly;
`first` takes the first verified candidate."""
Role = Literal["extraction", "verification"]
ConfidenceMode = Literal["auto", "logprobs", "sampled", "verbalized", "none"]
"""Where each answer's probability comes from (`ModelSettings.confidence` says how each works)."""
SampleOrder = Literal["same", "rotated"]
"""The order a sampled group question shows its options in (`ModelSettings.confidence_order`)."""
BadInputPolicy = Literal["fail", "skip"]
GoldFormat = Literal["auto", "jsonl", "semeval", "tacred"]
StudentKind = Literal["tfidf", "embeddings"]
ExportFormat = Literal["jsonl", "opennre", "tacred", "hf"]
BalanceRule = Literal["none", "cap", "na-downsample"]
"""The paper's two ways to balance a training set: `cap` every class at the mean count of the positive
classes, or keep every positive and `na-downsample` the no-relation class to that mean."""
KeepRule = Literal["all", "confident", "positive"]
"""Which discovered labels a training set takes: `all`; `confident` leaves out the no-relation labels that
only say no candidate's score reached its threshold; `positive` leaves out every no-relation label."""
ReviewSelection = Literal["uncertain", "all", "random"]
Backend = Literal["local", "ray"]
"""Where `mbre discover` labels: in its own process, or on Ray workers (`mbre[ray]`)."""
PairsInput = Literal["auto", "jsonl", "text", "conll"]
"""What `mbre pairs` reads: entity-annotated (or plain `{"id", "text"}`) JSON Lines, a plain text file, or
CoNLL-style token tags; `auto` decides by the file's name and first character."""

STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
DECISION_POLICIES: tuple[DecisionPolicy, ...] = get_args(DecisionPolicy)
STUDENTS: tuple[StudentKind, ...] = get_args(StudentKind)
BALANCE_RULES: tuple[BalanceRule, ...] = get_args(BalanceRule)
KEEP_RULES: tuple[KeepRule, ...] = get_args(KeepRule)
#: The thresholds the paper's analysis looks at, replayed by `mbre evaluate`.
EPSILONS = (0.001, 0.01, 0.02, 0.05, 0.1)


def parse_strategies(text: str) -> list[Strategy]:
    """`"mbre,binary"` as strategies: each known and named once, at least one, in the order given."""
    names = [name.strip() for name in text.split(",")]
    return check_strategies(names)


def check_strategies(names: Sequence[str]) -> list[Strategy]:
    """The names as strategies, each known and named once, at least one."""
    if not names or len(set(names)) != len(names) or not set(names) <= set(STRATEGIES):
        raise SettingError(
            f"name distinct strategies from {', '.join(STRATEGIES)}, at least one; got {list(names)}"
        )
    return [strategy for name in names for strategy in STRATEGIES if strategy == name]


@dataclass(frozen=True)
class Arm:
    """One run of an evaluation: a strategy with a decision policy, named `strategy` (the configured
    policy) or `strategy:policy` (`mbre:paper`, the paper's exact rule beside the calibrated default)."""

    name: str
    strategy: Strategy
    decision: DecisionPolicy | None
    """None: the configured policy."""

    @property
    def directory(self) -> str:
        """The run directory's name inside the report directory."""
        return self.name.replace(":", "-")


def parse_arms(names: str | Sequence[str]) -> list[Arm]:
    """`"mbre,mbre:paper,binary"` (or its names) as arms: each known and named once, at least one."""
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",")]
    arms: list[Arm] = []
    for name in names:
        strategy, _, policy = name.partition(":")
        known = [s for s in STRATEGIES if s == strategy]
        policies = [p for p in DECISION_POLICIES if p == policy]
        if not known or (policy and not policies):
            arms = []
            break
        arms.append(Arm(name=name, strategy=known[0], decision=policies[0] if policies else None))
    if not arms or len(set(names)) != len(names):
        raise SettingError(
            f"name distinct strategies from {', '.join(STRATEGIES)}, each optionally with a decision policy "
            f"({', '.join(DECISION_POLICIES)}) as strategy:policy, at least one; got {list(names)}"
        )
    return arms


#: Field metadata key: the setting changes an answer or a decision (recorded in manifests and reports).
ANSWER = "answer"
#: Field metadata key: the value that behaves as mbre did before the setting existed.
BEFORE = "before"
#: Field metadata key: the other settings' values under which the setting changes the labels at all.
ONLY = "only"


def setting(
    default: Any,
    *,
    answer: bool = False,
    before: Any = dataclasses.MISSING,
    only: Mapping[str, tuple[str, ...]] | None = None,
) -> Any:
    """A settings-dataclass field; `answer=True` declares that changing it changes the labels, so a run
    directory refuses to resume under another value and reports record it. `before`: the value that
    reproduces how mbre behaved before the setting was added, so older runs can resume under it. `only`:
    the setting changes the labels only while these other settings hold one of these values (a group
    weight means nothing to the binary baseline), so other runs neither record nor compare it."""
    metadata: dict[str, Any] = {ANSWER: answer}
    if before is not dataclasses.MISSING:
        metadata[BEFORE] = before
    if only is not None:
        metadata[ONLY] = dict(only)
    return dataclasses.field(default=default, metadata=metadata)


def answer_settings(settings: Any) -> dict[str, Any]:
    """The values of a settings dataclass's fields declared with `answer=True` that bear on these
    settings' labels (see `only`), by name."""
    return {
        field.name: getattr(settings, field.name)
        for field in dataclasses.fields(settings)
        if field.metadata.get(ANSWER)
        and all(getattr(settings, name) in values for name, values in field.metadata.get(ONLY, {}).items())
    }


def answer_settings_before(settings_class: type) -> dict[str, Any]:
    """The `before` values of a settings dataclass's `answer=True` fields, by name: how a run made
    before such a setting existed behaved."""
    return {
        field.name: field.metadata[BEFORE]
        for field in dataclasses.fields(settings_class)
        if field.metadata.get(ANSWER) and BEFORE in field.metadata
    }
