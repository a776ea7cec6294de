"""Every metric against values worked out by hand on small cases; the arithmetic is in the comments."""

from __future__ import annotations

from dataclasses import astuple

import pytest

from mbre.evaluation.metrics import (
    SEMEVAL_TYPES,
    LabelScores,
    Scores,
    abstention_rate,
    accuracy,
    confusion_matrix,
    prf,
    semeval_official_macro_f1,
)

CE12, CE21 = "Cause-Effect(e1,e2)", "Cause-Effect(e2,e1)"
CW12 = "Component-Whole(e1,e2)"
MT12 = "Message-Topic(e1,e2)"


def close(got: object, want: object) -> bool:
    """Dataclasses equal up to float rounding (pytest.approx does not look inside dataclasses)."""
    return astuple(got) == pytest.approx(astuple(want))


def test_accuracy_counts_an_abstention_as_wrong():
    gold = ["A", "B", "A", "NA"]
    pred = ["A", None, "B", "NA"]
    # right on items 0 and 3: 2/4
    assert accuracy(gold, pred) == pytest.approx(2 / 4)
    # one None in four
    assert abstention_rate(pred) == pytest.approx(1 / 4)


def test_accuracy_and_abstention_rate_when_every_prediction_abstains():
    assert accuracy(["A", "NA"], [None, None]) == 0.0
    assert abstention_rate([None, None]) == 1.0


@pytest.mark.parametrize(
    "metric",
    [
        accuracy,
        lambda g, p: prf(g, p, no_relation="NA"),
        semeval_official_macro_f1,
        lambda g, p: confusion_matrix(g, p, ["A"]),
    ],
)
def test_empty_or_mismatched_input_is_refused(metric):
    with pytest.raises(ValueError, match="nothing to score"):
        metric([], [])
    with pytest.raises(ValueError, match="2 gold labels but 1 predictions"):
        metric(["A", "A"], ["A"])


def test_abstention_rate_of_nothing_is_refused():
    with pytest.raises(ValueError, match="nothing to score"):
        abstention_rate([])


def test_prf_micro_macro_and_per_label_table():
    gold = ["A", "A", "A", "B", "B", "NA", "NA", "C"]
    pred = ["A", "A", None, "B", "A", "A", "NA", "NA"]
    result = prf(gold, pred, no_relation="NA")
    # positive predictions: A at 0, 1, 4, 5 and B at 3 = 5; correct: items 0, 1, 3 = 3
    # gold positives: A x3, B x2, C x1 = 6 (the two gold NA are not positives)
    # micro P = 3/5, R = 3/6 = 1/2, F1 = 2 * 3/5 * 1/2 / (3/5 + 1/2) = (3/5) / (11/10) = 6/11
    assert close(result.micro, Scores(3 / 5, 1 / 2, 6 / 11))
    # A: support 3, predicted 4, correct 2: P = 2/4, R = 2/3, F1 = 2 * 1/2 * 2/3 / (1/2 + 2/3) = 4/7
    # B: support 2, predicted 1, correct 1: P = 1/1, R = 1/2, F1 = 2 * 1 * 1/2 / (3/2) = 2/3
    # C: support 1, predicted 0, correct 0: P = 0 (nothing predicted), R = 0/1, F1 = 0
    want = [
        LabelScores("A", support=3, predicted=4, correct=2, precision=1 / 2, recall=2 / 3, f1=4 / 7),
        LabelScores("B", support=2, predicted=1, correct=1, precision=1.0, recall=1 / 2, f1=2 / 3),
        LabelScores("C", support=1, predicted=0, correct=0, precision=0.0, recall=0.0, f1=0.0),
    ]
    for got, expected in zip(result.per_label, want, strict=True):
        assert close(got, expected)
    # macro P = (1/2 + 1 + 0) / 3 = 1/2, R = (2/3 + 1/2 + 0) / 3 = 7/18, F1 = (4/7 + 2/3 + 0) / 3 = 26/63
    assert close(result.macro, Scores(1 / 2, 7 / 18, 26 / 63))


def test_prf_counts_a_label_that_is_only_predicted_in_the_macro_average():
    result = prf(["A", "NA"], ["A", "D"], no_relation="NA")
    # micro: correct 1 (item 0), predicted 2 (A, D), gold positives 1
    # P = 1/2, R = 1/1, F1 = 2 * 1/2 * 1 / (3/2) = 2/3
    assert close(result.micro, Scores(1 / 2, 1.0, 2 / 3))
    # A: P = R = F1 = 1; D: support 0, predicted 1, correct 0, so P = 0/1, R = 0 (no gold), F1 = 0
    assert [(r.label, r.f1) for r in result.per_label] == [("A", 1.0), ("D", 0.0)]
    # macro over A and D: P = (1 + 0) / 2, R = (1 + 0) / 2, F1 = (1 + 0) / 2
    assert close(result.macro, Scores(1 / 2, 1 / 2, 1 / 2))


def test_prf_with_no_positive_prediction_at_all():
    result = prf(["A", "B", "NA"], ["NA", None, "NA"], no_relation="NA")
    # predicted 0, so P = 0 (not 1 as in the TACRED scorer); R = 0/2; F1 = 0
    assert result.micro == Scores(0.0, 0.0, 0.0)
    assert result.macro == Scores(0.0, 0.0, 0.0)
    assert [(r.label, r.support, r.predicted, r.correct) for r in result.per_label] == [
        ("A", 1, 0, 0),
        ("B", 1, 0, 0),
    ]


def test_prf_when_neither_gold_nor_predictions_have_a_positive_label():
    result = prf(["NA", "NA"], ["NA", None], no_relation="NA")
    assert result.per_label == ()
    assert result.micro == Scores(0.0, 0.0, 0.0)
    assert result.macro == Scores(0.0, 0.0, 0.0)


def test_semeval_official_score_with_a_wrong_direction():
    gold = [CE12, CE12, CE21, CW12, "Other", "Other", "Other"]
    pred = [CE12, CE21, CE21, "Other", CE12, None, MT12]
    # Cause-Effect: gold 3 (items 0-2); predicted 4 (items 0, 1, 2, 4); correct 2 (items 0 and 2; item 1 has
    # the right type but the wrong direction). P = 2/4, R = 2/3, F1 = 2 * 1/2 * 2/3 / (1/2 + 2/3) = 4/7
    # Component-Whole: gold 1, predicted 0, correct 0: P = 0, R = 0/1, F1 = 0
    # Message-Topic: only predicted, never gold, so the official scorer leaves it out of the mean
    # official = (4/7 + 0) / 2 = 2/7
    assert semeval_official_macro_f1(gold, pred) == pytest.approx(2 / 7)


def test_semeval_official_score_edge_cases():
    # every prediction abstains: Cause-Effect P = 0, R = 0/1, F1 = 0
    assert semeval_official_macro_f1([CE12, "Other"], [None, None]) == 0.0
    # all right: 1 for each type
    assert semeval_official_macro_f1([CE12, CW12, "Other"], [CE12, CW12, "Other"]) == 1.0
    # only the wrong direction: Cause-Effect P = 0/1, R = 0/1
    assert semeval_official_macro_f1([CE12], [CE21]) == 0.0


@pytest.mark.parametrize(
    ("gold", "pred"),
    [
        (["Cause-Effect"], [CE12]),
        ([CE12], ["Cause-Effect"]),
        ([CE12], ["Cause-Effect(e1,e1)"]),
        ([CE12], ["no_relation"]),
    ],
)
def test_semeval_official_score_refuses_unofficial_labels(gold, pred):
    with pytest.raises(ValueError, match="not a SemEval-2010 Task 8 label"):
        semeval_official_macro_f1(gold, pred)


def test_semeval_official_score_is_undefined_without_a_gold_relation():
    with pytest.raises(ValueError, match="every gold label is Other"):
        semeval_official_macro_f1(["Other", "Other"], [CE12, "Other"])


# A confusion matrix printed by the official semeval2010_task8_scorer-v1.2.pl for a system on the 2,717 test
# sentences: per gold type, counts per predicted type (the nine types, then Other), then xDIRx (right type,
# wrong direction). The scorer printed "macro-averaged F1 = 69.10%" for it.
PUBLISHED_OFFICIAL_MATRIX = """
263    1    0    1   11    3    3    2    3   20   21
  2  187    9    6    4    7   11    7    4   34   41
  0    6  156    8    6    0    2    0    1    5    8
  0    1   16  256    2    1    0    2    3    8    3
  4    1    2    7  190    2    4    2    7   26   13
  2   12    1    1    3   80    2    6    7   35    7
  0   11    1    1    3    2  176    4    6   17   12
  0    7    1    3    0    3    2  179   14   27   25
  7    8    0    5    9    8    5    8  132   28   21
 15   49   25   30   43   20   41   38   30  163    0
"""


def test_semeval_official_score_matches_the_official_scorer_printout():
    def label(relation_type: str, direction: str = "(e1,e2)") -> str:
        return "Other" if relation_type == "Other" else relation_type + direction

    types = [*SEMEVAL_TYPES, "Other"]
    gold: list[str] = []
    pred: list[str | None] = []
    for gold_type, row in zip(types, PUBLISHED_OFFICIAL_MATRIX.split("\n")[1:-1], strict=True):
        *counts, wrong_direction = (int(n) for n in row.split())
        for pred_type, count in zip(types, counts, strict=True):
            gold += [label(gold_type)] * count
            pred += [label(pred_type)] * count
        gold += [label(gold_type)] * wrong_direction
        pred += [label(gold_type, "(e2,e1)")] * wrong_direction
    assert len(gold) == 2717
    assert round(100 * semeval_official_macro_f1(gold, pred), 2) == 69.10


def test_confusion_matrix_has_an_abstention_column():
    gold = ["A", "A", "B", "NA", "B"]
    pred = ["A", "B", None, "NA", "B"]
    #        pred: A  B  NA  None
    assert confusion_matrix(gold, pred, ["A", "B", "NA"]) == [
        [1, 1, 0, 0],  # gold A
        [0, 1, 0, 1],  # gold B
        [0, 0, 1, 0],  # gold NA
    ]


def test_confusion_matrix_refuses_unknown_or_repeated_labels():
    with pytest.raises(ValueError, match="label 'C' is not among the confusion-matrix labels"):
        confusion_matrix(["A"], ["C"], ["A", "B"])
    with pytest.raises(ValueError, match="label 'C' is not among"):
        confusion_matrix(["C"], ["A"], ["A", "B"])
    with pytest.raises(ValueError, match="the labels repeat"):
        confusion_matrix(["A"], ["A"], ["A", "A"])
