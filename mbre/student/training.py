"""Training a student: discovered samples as training data, the gold control, and the test scores.

M-BRe judges an annotation by what it teaches: the same student is trained once on the discovered samples
and once on as many gold samples, and both are scored on the gold test set. The student here is small and
deterministic so the comparison runs on a CPU in minutes, not a GPU job: entity-marked TF-IDF with logistic
regression, and all-MiniLM-L6-v2 sentence and entity vectors with a logistic-regression head.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mbre.dataset.balance import balance as balanced
from mbre.dataset.labelled import Labelled, keep_labelled
from mbre.errors import MbreError, SettingError
from mbre.evaluation.metrics import SEMEVAL_LABELS, Scores, accuracy, prf, semeval_official_macro_f1
from mbre.schemas.instances import Instance
from mbre.schemas.options import STUDENTS, BalanceRule, KeepRule, StudentKind
from mbre.schemas.results import Sample


class TrainingDataError(MbreError):
    """The samples cannot train or score a student: too few, one label only, or no gold label."""


def check_students(names: Sequence[str]) -> list[StudentKind]:
    """The names as student kinds, each known and named once, at least one."""
    if not names or len(set(names)) != len(names) or not set(names) <= set(STUDENTS):
        raise SettingError(
            f"name distinct students from {', '.join(STUDENTS)}, at least one; got {list(names)}"
        )
    return [kind for name in names for kind in STUDENTS if kind == name]


class Student(Protocol):
    def fit(self, instances: Sequence[Instance], labels: Sequence[str]) -> Student: ...

    def predict(self, instances: Sequence[Instance]) -> list[str]: ...


def check_training_data(instances: Sequence[Instance], labels: Sequence[str]) -> None:
    if len(instances) != len(labels):
        raise TrainingDataError(f"{len(instances)} instances but {len(labels)} labels")
    if len(set(labels)) < 2:
        raise TrainingDataError(f"a classifier needs at least two distinct labels, got {sorted(set(labels))}")


def training_pairs(
    samples: Sequence[Sample],
    *,
    keep: KeepRule = "all",
    min_confidence: float | None = None,
    balance: BalanceRule = "none",
    no_relation: str | None = None,
    seed: int = 0,
) -> tuple[list[Instance], list[str]]:
    """Discovered samples as training data, labelled with the discovered relation only, chosen as `mbre
    export` chooses them: abstentions dropped, then the keep rule and the confidence filter, then the
    balance rule (`na-downsample` needs `no_relation`; `cap` counts every class without it).

    `gold` is never read: it was hidden from discovery and must stay hidden from training, or the student
    would measure the gold labels rather than the discovery.
    """
    kept = keep_labelled(samples, keep=keep, min_confidence=min_confidence).records
    return balanced_pairs(kept, balance=balance, no_relation=no_relation, seed=seed)


def balanced_pairs(
    kept: Sequence[Labelled], *, balance: BalanceRule, no_relation: str | None, seed: int
) -> tuple[list[Instance], list[str]]:
    """Kept labels as training data, after the balance rule: `training_pairs`' second half, for a caller
    that chooses the kept labels itself."""
    records, _ = balanced(kept, balance, no_relation, seed) if kept else ([], None)
    instances = [
        Instance(id=r.sample.id, text=r.sample.text, head=r.sample.head, tail=r.sample.tail) for r in records
    ]
    return instances, [record.relation for record in records]


def gold_control(
    pool: Sequence[Instance], like: Sequence[str], *, seed: int
) -> tuple[list[Instance], list[str]]:
    """A uniform random sample of gold-labelled `pool` instances, as many as `like` (the discovered labels).

    Only the size is matched, not the label distribution: the control stands for "the same annotation budget
    spent on gold labels", and copying the discovered distribution would carry the discovery's own mistakes
    into it. The draw depends only on `seed` and the pool order.
    """
    labelled = [(instance, instance.relation) for instance in pool if instance.relation is not None]
    if len(labelled) < len(like):
        raise TrainingDataError(
            f"the pool has {len(labelled)} gold-labelled instances; {len(like)} are needed"
        )
    chosen = random.Random(seed).sample(labelled, len(like))
    return [instance for instance, _ in chosen], [label for _, label in chosen]


@dataclass(frozen=True)
class StudentReport:
    """Test scores of one trained student; the P/R/F1 are over the positive labels (`metrics.prf`)."""

    test_size: int
    accuracy: float
    micro: Scores
    macro: Scores
    semeval_macro_f1: float | None
    """The official SemEval-2010 Task 8 score; None unless every gold and predicted label is a SemEval one
    and some gold label is not Other (the official score averages over the gold relation types)."""


def score_student(student: Student, test: Sequence[Instance], *, no_relation: str) -> StudentReport:
    """Predict `test` and score it against its gold labels, which every test instance must have."""
    gold = [instance.relation for instance in test if instance.relation is not None]
    if len(gold) != len(test):
        raise TrainingDataError(f"{len(test) - len(gold)} test instances have no gold label")
    pred = student.predict(test)
    scores = prf(gold, pred, no_relation=no_relation)
    semeval = (
        semeval_official_macro_f1(gold, pred)
        if SEMEVAL_LABELS.issuperset(gold + pred) and any(g != "Other" for g in gold)
        else None
    )
    return StudentReport(len(test), accuracy(gold, pred), scores.micro, scores.macro, semeval)
