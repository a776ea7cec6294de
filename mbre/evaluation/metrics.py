"""Scores of predicted labels against gold labels; a prediction of None is an abstention.

Every function takes the gold labels and the predictions as two parallel sequences and refuses empty or
mismatched input, since a score of nothing is a bug upstream rather than a number. Scores are fractions in
0..1, and a ratio with a zero denominator is 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

#: The nine SemEval-2010 Task 8 relation types; each label is a type plus `(e1,e2)` or `(e2,e1)`, or `Other`.
SEMEVAL_TYPES = (
    "Cause-Effect",
    "Component-Whole",
    "Content-Container",
    "Entity-Destination",
    "Entity-Origin",
    "Instrument-Agency",
    "Member-Collection",
    "Message-Topic",
    "Product-Producer",
)
_SEMEVAL_DIRECTIONS = ("(e1,e2)", "(e2,e1)")
#: The 19 official labels: every type in both directions, and Other.
SEMEVAL_LABELS = frozenset({"Other", *(t + d for t in SEMEVAL_TYPES for d in _SEMEVAL_DIRECTIONS)})


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class LabelScores:
    """One row of the per-label table: counts, and the scores computed from them."""

    label: str
    support: int
    """Gold occurrences."""
    predicted: int
    correct: int
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class PRF:
    """Micro and macro scores over the positive labels, with the per-label table they come from."""

    micro: Scores
    macro: Scores
    per_label: tuple[LabelScores, ...]


def accuracy(gold: Sequence[str], pred: Sequence[str | None]) -> float:
    """Fraction of exact matches. An abstention counts as wrong, so abstaining never raises the score."""
    _check(gold, pred)
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)


def abstention_rate(pred: Sequence[str | None]) -> float:
    """Fraction of predictions that are abstentions (None)."""
    if not pred:
        raise ValueError("nothing to score: no predictions")
    return sum(p is None for p in pred) / len(pred)


def prf(gold: Sequence[str], pred: Sequence[str | None], *, no_relation: str) -> PRF:
    """Precision, recall and F1 over the positive labels, as the TACRED scorer counts them.

    A prediction of `no_relation` or None is no prediction, and a gold `no_relation` is not a positive.
    Micro: P = correct positive predictions / positive predictions, R = correct / gold positives.
    Macro: the mean of the per-label P, R and F1 (F1 is not recomputed from the mean P and R) over the
    labels that occur in the gold labels or the predictions; a label that never occurs in either is left out,
    and one only ever predicted counts with F1 0. With no such label at all, every macro score is 0.
    Unlike the TACRED scorer, which sets P = 1 when nothing is predicted, P is 0 then.
    """
    _check(gold, pred)
    support = Counter(g for g in gold if g != no_relation)
    predicted = Counter(p for p in pred if p is not None and p != no_relation)
    correct = Counter(p for g, p in zip(gold, pred, strict=True) if p == g and g != no_relation)
    rows = tuple(
        _label_scores(label, support[label], predicted[label], correct[label])
        for label in sorted(support.keys() | predicted.keys())
    )
    micro = _scores(sum(correct.values()), sum(predicted.values()), sum(support.values()))
    if not rows:
        return PRF(micro=micro, macro=Scores(0.0, 0.0, 0.0), per_label=rows)
    macro = Scores(
        precision=sum(r.precision for r in rows) / len(rows),
        recall=sum(r.recall for r in rows) / len(rows),
        f1=sum(r.f1 for r in rows) / len(rows),
    )
    return PRF(micro=micro, macro=macro, per_label=rows)


def semeval_official_macro_f1(gold: Sequence[str], pred: Sequence[str | None]) -> float:
    """The official SemEval-2010 Task 8 score, as `semeval2010_task8_scorer-v1.2.pl` computes it.

    "(9+1)-way evaluation with directionality taken into account": per relation type T (the label without
    its direction; Other is not a type), a prediction is correct only if the whole label, direction
    included, equals the gold label. P_T = correct_T / predictions whose type is T, R_T = correct_T / gold
    labels whose type is T; so a wrong-direction prediction counts in both totals but is never correct.
    Other and abstentions (None) are predictions of no type. The score is the mean F1_T over the types that
    occur in the gold labels: all nine on the official test set; on a subset the official scorer also
    leaves out types absent from the gold, and so does this. Labels outside the 19 official ones are refused,
    as the official scorer refuses them, and so are gold labels that are all Other (the mean is undefined).
    """
    _check(gold, pred)
    gold_types = [_semeval_type(g) for g in gold]
    pred_types = [_semeval_type(p) for p in pred]
    support = Counter(t for t in gold_types if t is not None)
    predicted = Counter(t for t in pred_types if t is not None)
    correct = Counter(t for g, p, t in zip(gold, pred, gold_types, strict=True) if t is not None and p == g)
    if not support:
        raise ValueError("every gold label is Other: the official score averages over no relation type")
    return sum(_scores(correct[t], predicted[t], support[t]).f1 for t in support) / len(support)


def confusion_matrix(
    gold: Sequence[str], pred: Sequence[str | None], labels: Sequence[str]
) -> list[list[int]]:
    """Counts with rows = gold label and columns = predicted label, both in `labels` order.

    The extra last column counts abstentions; a label missing from `labels` is refused rather than dropped.
    """
    _check(gold, pred)
    index = {label: position for position, label in enumerate(labels)}
    if len(index) != len(labels):
        raise ValueError(f"the labels repeat: {list(labels)}")
    matrix = [[0] * (len(labels) + 1) for _ in labels]
    for g, p in zip(gold, pred, strict=True):
        column = len(labels) if p is None else _position(index, p)
        matrix[_position(index, g)][column] += 1
    return matrix


def _check(gold: Sequence[str], pred: Sequence[str | None]) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    if not gold:
        raise ValueError("nothing to score: no gold labels")


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _scores(correct: int, predicted: int, support: int) -> Scores:
    precision, recall = _ratio(correct, predicted), _ratio(correct, support)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1)


def _label_scores(label: str, support: int, predicted: int, correct: int) -> LabelScores:
    scores = _scores(correct, predicted, support)
    return LabelScores(label, support, predicted, correct, scores.precision, scores.recall, scores.f1)


def _semeval_type(label: str | None) -> str | None:
    """The relation type of a SemEval label; None for Other and for an abstention."""
    if label is None or label == "Other":
        return None
    for direction in _SEMEVAL_DIRECTIONS:
        relation_type = label.removesuffix(direction)
        if relation_type != label and relation_type in SEMEVAL_TYPES:
            return relation_type
    raise ValueError(f"not a SemEval-2010 Task 8 label: {label!r}")


def _position(index: dict[str, int], label: str) -> int:
    if label not in index:
        raise ValueError(f"label {label!r} is not among the confusion-matrix labels")
    return index[label]
