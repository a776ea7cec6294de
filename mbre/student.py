"""The downstream check of discovered samples: a relation classifier trained on them, scored on gold data.

M-BRe judges an annotation by what it teaches: the same student is trained once on the discovered samples
and once on as many gold samples, and both are scored on the gold test set. The student here is small and
deterministic so the comparison runs on a CPU in minutes, not a GPU job: entity-marked TF-IDF with logistic
regression, and all-MiniLM-L6-v2 sentence and entity vectors with a logistic-regression head.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from mbre.embeddings import MiniLM
from mbre.metrics import SEMEVAL_TYPES, Scores, accuracy, prf, semeval_official_macro_f1
from mbre.schemas import Instance, Sample

# Plain words, so the default tokenizer keeps them whole; distinct per role and side, so direction shows.
HEAD_START, HEAD_END, TAIL_START, TAIL_END = "HEADSTART", "HEADEND", "TAILSTART", "TAILEND"
_SEMEVAL_LABELS = frozenset({"Other", *(f"{t}{d}" for t in SEMEVAL_TYPES for d in ("(e1,e2)", "(e2,e1)"))})

StudentKind = Literal["tfidf", "embeddings"]
STUDENTS: tuple[StudentKind, ...] = ("tfidf", "embeddings")


def check_students(names: Sequence[str]) -> list[StudentKind]:
    """The names as student kinds, each known and named once, at least one."""
    if not names or len(set(names)) != len(names) or not set(names) <= set(STUDENTS):
        raise ValueError(
            f"name distinct students from {', '.join(STUDENTS)}, at least one; got {list(names)}"
        )
    return list(names)  # type: ignore[arg-type]


class Student(Protocol):
    def fit(self, instances: Sequence[Instance], labels: Sequence[str]) -> Student: ...

    def predict(self, instances: Sequence[Instance]) -> list[str]: ...


class TfidfStudent:
    """Logistic regression over three feature blocks: the entity-marked sentence, the words between the
    entities, and which entity comes first."""

    def __init__(self, *, c: float = 10.0) -> None:
        self.c = c
        self._sentence: TfidfVectorizer | None = None
        self._between: TfidfVectorizer | None = None
        self._model: OneVsRestClassifier | None = None

    def fit(self, instances: Sequence[Instance], labels: Sequence[str]) -> TfidfStudent:
        _check_training_data(instances, labels)
        self._sentence = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        self._between = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        sentences, betweens, order = _parts(instances)
        features = hstack(
            [self._sentence.fit_transform(sentences), self._between.fit_transform(betweens), order], "csr"
        )
        # One-vs-rest liblinear: about 1 s on 6,000 SemEval sentences, where lbfgs's multinomial fit takes
        # 30 s for the same dev score.
        self._model = OneVsRestClassifier(LogisticRegression(C=self.c, solver="liblinear", random_state=0))
        self._model.fit(features, list(labels))
        return self

    def predict(self, instances: Sequence[Instance]) -> list[str]:
        if self._model is None or self._sentence is None or self._between is None:
            raise RuntimeError("predict before fit")
        if not instances:
            return []
        sentences, betweens, order = _parts(instances)
        features = hstack(
            [self._sentence.transform(sentences), self._between.transform(betweens), order], "csr"
        )
        return [str(label) for label in self._model.predict(features)]


class EmbeddingStudent:
    """Logistic regression over frozen all-MiniLM-L6-v2 token states, averaged over three spans: the head,
    the tail, and the words between them, in that order, so the direction shows.

    The between-span carries the relation ("caused", "is part of"): on 318 SemEval training sentences it
    lifts the official score from 0.37 (sentence, head and tail vectors) to 0.51. Token states are kept per
    text, so fitting twice and predicting the same test set costs one encoding.
    """

    def __init__(self, model: MiniLM, *, c: float = 0.3) -> None:
        self.model = model
        self.c = c
        self._encoded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._head: Pipeline | None = None

    def fit(self, instances: Sequence[Instance], labels: Sequence[str]) -> EmbeddingStudent:
        _check_training_data(instances, labels)
        self._head = make_pipeline(StandardScaler(), LogisticRegression(C=self.c, max_iter=2000))
        self._head.fit(self.features(instances), list(labels))
        return self

    def predict(self, instances: Sequence[Instance]) -> list[str]:
        if self._head is None:
            raise RuntimeError("predict before fit")
        if not instances:
            return []
        return [str(label) for label in self._head.predict(self.features(instances))]

    def features(self, instances: Sequence[Instance]) -> np.ndarray:
        """(len(instances), 3 x 384): head, tail and between vectors."""
        new = list(dict.fromkeys(i.text for i in instances if i.text not in self._encoded))
        for text, encoded in zip(new, self.model.encode(new), strict=True):
            self._encoded[text] = (encoded.states, np.array(encoded.offsets).reshape(-1, 2))
        rows = []
        for instance in instances:
            states, offsets = self._encoded[instance.text]
            head, tail = instance.head, instance.tail
            between = (min(head.end, tail.end), max(head.start, tail.start))
            spans = [(head.start, head.end), (tail.start, tail.end), between]
            rows.append(np.concatenate([_span_mean(states, offsets, start, end) for start, end in spans]))
        return np.stack(rows)


def _span_mean(states: np.ndarray, offsets: np.ndarray, start: int, end: int) -> np.ndarray:
    """The mean state of the tokens overlapping [start, end); zeros when there are none (adjacent entities,
    or truncation cut them off). Special tokens have the empty span (0, 0), which overlaps nothing."""
    inside = (offsets[:, 0] < end) & (offsets[:, 1] > start)
    return states[inside].mean(axis=0) if inside.any() else np.zeros(states.shape[1], dtype=states.dtype)


def _check_training_data(instances: Sequence[Instance], labels: Sequence[str]) -> None:
    if len(instances) != len(labels):
        raise ValueError(f"{len(instances)} instances but {len(labels)} labels")
    if len(set(labels)) < 2:
        raise ValueError(f"a classifier needs at least two distinct labels, got {sorted(set(labels))}")


def _parts(instances: Sequence[Instance]) -> tuple[list[str], list[str], csr_matrix]:
    """Per instance: the sentence with both spans wrapped in markers; the stretch from the first entity's
    closing marker to the second's opening one (the markers give direction-aware edge bigrams and keep the
    block non-empty when the entities touch); and a one-hot [head first, tail first] column pair."""
    sentences, betweens, order = [], [], []
    for instance in instances:
        head, tail = instance.head, instance.tail
        wrapped = sorted(
            [(head.start, head.end, HEAD_START, HEAD_END), (tail.start, tail.end, TAIL_START, TAIL_END)]
        )
        (_, first_end, _, first_close), (second_start, _, second_open, _) = wrapped
        text, pieces, cursor = instance.text, [], 0
        for start, end, opening, closing in wrapped:
            pieces += [text[cursor:start], f" {opening} ", text[start:end], f" {closing} "]
            cursor = end
        pieces.append(text[cursor:])
        sentences.append("".join(pieces))
        betweens.append(f"{first_close} {text[first_end:second_start]} {second_open}")
        order.append([1.0, 0.0] if head.start < tail.start else [0.0, 1.0])
    return sentences, betweens, csr_matrix(order)


def training_pairs(
    samples: Sequence[Sample], *, include_no_relation: bool = True
) -> tuple[list[Instance], list[str]]:
    """Discovered samples as training data, labelled with the discovered relation only.

    Abstentions (relation None) are dropped. `gold` is never read: it was hidden from discovery and must stay
    hidden from training, or the student would measure the gold labels rather than the discovery. With
    `include_no_relation=False` the samples labelled no-relation are dropped too; they are recognised from
    the decision (see `_says_no_relation`), since a Sample does not carry the no-relation label's name.
    """
    instances, labels = [], []
    for sample in samples:
        if sample.relation is None or (not include_no_relation and _says_no_relation(sample)):
            continue
        instances.append(Instance(id=sample.id, text=sample.text, head=sample.head, tail=sample.tail))
        labels.append(sample.relation)
    return instances, labels


def _says_no_relation(sample: Sample) -> bool:
    """The graph decides the no-relation label in exactly two ways, as prompts never offer it: nothing was
    verified, or the multiclass answer was "none of these"."""
    decision = sample.decision
    return decision.rule == "no_candidate" or (
        decision.rule == "multiclass" and decision.extractions[0].label is None
    )


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
        raise ValueError(f"the pool has {len(labelled)} gold-labelled instances; {len(like)} are needed")
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
        raise ValueError(f"{len(test) - len(gold)} test instances have no gold label")
    pred = student.predict(test)
    scores = prf(gold, pred, no_relation=no_relation)
    semeval = (
        semeval_official_macro_f1(gold, pred)
        if _SEMEVAL_LABELS.issuperset(gold + pred) and any(g != "Other" for g in gold)
        else None
    )
    return StudentReport(len(test), accuracy(gold, pred), scores.micro, scores.macro, semeval)
