"""The downstream check of discovered samples: each student trained on them and, as the control, on as many
gold samples, all scored on the gold test set."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from mbre.evaluation.records import RunRecord, run_record
from mbre.schemas.instances import Instance
from mbre.schemas.options import BalanceRule, KeepRule, StudentKind
from mbre.schemas.results import Provenance, Sample
from mbre.student.embeddings import EmbeddingStudent
from mbre.student.minilm import MiniLM
from mbre.student.tfidf import TfidfStudent
from mbre.student.training import (
    Student,
    StudentReport,
    TrainingDataError,
    gold_control,
    score_student,
    training_pairs,
)

TrainedOn = Literal["discovered", "gold"]


class StudentRun(BaseModel):
    """One training set, and the test scores of each student trained on it."""

    trained_on: TrainedOn
    train_size: int
    label_distribution: dict[str, int]
    scores: dict[StudentKind, StudentReport]


class StudentComparison(BaseModel):
    run: RunRecord
    samples_provenance: list[Provenance]
    """Every distinct provenance of the discovered samples: the model, prompts and inventory behind them."""
    no_relation: str
    keep: KeepRule = "all"
    """Which discovered labels were trained on (`mbre export --keep`); the defaults here are what reports
    made before these fields meant."""
    min_confidence: float | None = None
    balance: BalanceRule = "none"
    seed: int
    """Seed of the gold control's draw and of the balancing."""
    test_size: int
    discovered: StudentRun
    gold: StudentRun


def evaluate_student(
    samples: Sequence[Sample],
    test: Sequence[Instance],
    gold_pool: Sequence[Instance],
    *,
    no_relation: str,
    students: Sequence[StudentKind] = ("tfidf",),
    keep: KeepRule = "all",
    min_confidence: float | None = None,
    balance: BalanceRule = "cap",
    seed: int = 0,
    files: Mapping[str, str | Path] | None = None,
) -> StudentComparison:
    """Train each student on the discovered labels that `keep` and `balance` choose and, as the control, on
    as many gold-labelled sentences drawn from `gold_pool`; score all on `test`. Raises TrainingDataError
    when either cannot be trained, and EmbeddingModelError when the embeddings student is asked for but not
    installed."""
    instances, labels = training_pairs(
        samples,
        keep=keep,
        min_confidence=min_confidence,
        balance=balance,
        no_relation=no_relation,
        seed=seed,
    )
    if not instances:
        raise TrainingDataError(f"no sample has a label to train on (abstained, or not kept by {keep!r})")
    control, control_labels = gold_control(gold_pool, labels, seed=seed)
    # One student object per kind for both training sets, so the embeddings of the test set are computed once.
    made = {kind: make_student(kind) for kind in students}
    runs = []
    training_sets: list[tuple[TrainedOn, list[Instance], list[str]]] = [
        ("discovered", instances, labels),
        ("gold", control, control_labels),
    ]
    for trained_on, train, train_labels in training_sets:
        scores = {
            kind: score_student(student.fit(train, train_labels), test, no_relation=no_relation)
            for kind, student in made.items()
        }
        runs.append(
            StudentRun(
                trained_on=trained_on,
                train_size=len(train),
                label_distribution=dict(Counter(train_labels).most_common()),
                scores=scores,
            )
        )
    return StudentComparison(
        run=run_record(files or {}),
        samples_provenance=list(dict.fromkeys(sample.provenance for sample in samples)),
        no_relation=no_relation,
        keep=keep,
        min_confidence=min_confidence,
        balance=balance,
        seed=seed,
        test_size=len(test),
        discovered=runs[0],
        gold=runs[1],
    )


def make_student(kind: StudentKind) -> Student:
    return TfidfStudent() if kind == "tfidf" else EmbeddingStudent(MiniLM())
