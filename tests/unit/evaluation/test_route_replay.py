"""Routing to fewer groups, replayed from hand-made samples of a run that asked both groups.

The fruit inventory of test_evaluate: group 0 = A (apple), C (cherry), Other; group 1 = B (banana),
D (damson). A sentence ranks the fruit it names first, then the others in schema order.
"""

from __future__ import annotations

import pytest

from mbre.evaluation.replays import Replayed, ReplayError, replay, route_replay
from mbre.schemas.results import Decision, Extraction, Sample, Verdict
from tests.support.data import PROVENANCE
from tests.support.fruits import INVENTORY, sentence


def extraction(group: int, label: str | None, abstained: bool = False) -> Extraction:
    return Extraction(
        group=group,
        labels=list(INVENTORY.asked_labels(group)),
        label=label,
        confidence=0.9,
        abstained=abstained,
    )


def sample(
    id: str, fruit: str, recorded: str | None, extractions: list[Extraction], *verdicts: Verdict
) -> Sample:
    candidates = [v.label for v in verdicts]
    decision = Decision(
        label=recorded,
        confidence=None,
        rule="single",
        candidates=candidates,
        extractions=extractions,
        verdicts=list(verdicts),
    )
    return Sample.from_decision(sentence(id, "Ann", fruit, "Bob", "unused"), decision, PROVENANCE)


def yes(label: str, confidence: float) -> Verdict:
    return Verdict(label=label, holds=True, confidence=confidence)


def no(label: str) -> Verdict:
    return Verdict(label=label, holds=False, confidence=0.9)


SAMPLES = [
    # apple: group 0 first. Both groups propose; only A is verified.
    sample("s1", "apple", "A", [extraction(0, "A"), extraction(1, "B")], yes("A", 0.95), no("B")),
    # banana: group 1 first. D and C verified; C (0.99) is the confident one.
    sample("s2", "banana", "C", [extraction(1, "D"), extraction(0, "C")], yes("D", 0.8), yes("C", 0.99)),
    # damson: nothing proposed.
    sample("s3", "damson", "Other", [extraction(1, None), extraction(0, None)]),
    # apple: only group 1 proposes B, verified.
    sample("s4", "apple", "B", [extraction(0, None), extraction(1, "B")], yes("B", 0.7)),
    # cherry: group 1's answer did not parse, so the run abstained.
    sample("s5", "cherry", None, [extraction(0, None), extraction(1, None, abstained=True)]),
]
GOLD = ["A", "C", "Other", "B", "Other"]


def test_replay_keeps_only_the_routed_groups_answers_and_their_verdicts():
    s1, s2, s3, s4, s5 = SAMPLES
    assert replay(s2, INVENTORY, None) == Replayed(label="C", groups=2, calls=4)
    assert replay(s2, INVENTORY, 1) == Replayed(label="D", groups=1, calls=2)  # C's group not asked
    assert replay(s4, INVENTORY, 1) == Replayed(label="Other", groups=1, calls=1)  # B's group not asked
    assert replay(s4, INVENTORY, 2) == Replayed(label="B", groups=2, calls=3)  # apple, then banana
    assert replay(s5, INVENTORY, None).label is None
    assert replay(s5, INVENTORY, 1) == Replayed(label="Other", groups=1, calls=1)  # the failed group dropped
    assert replay(s3, INVENTORY, 2) == Replayed(label="Other", groups=2, calls=2)  # damson, apple: group 1, 0
    assert replay(s5, INVENTORY, 2) == Replayed(label="Other", groups=1, calls=1)  # cherry, apple: group 0
    assert replay(s1, INVENTORY, 3).label == "A"


def test_route_replay_rows_by_hand():
    rows = {row.top_k: row for row in route_replay(SAMPLES, GOLD, INVENTORY, [1, 2])}
    assert list(rows) == [None, 1, 2]
    # every group: A, C, Other, B, abstained against A, C, Other, B, Other
    every = rows[None]
    assert (every.accuracy, every.recall, every.f1, every.macro_f1) == (0.8, 1.0, 1.0, 1.0)
    assert (every.groups_per_sentence, every.calls_per_sentence, every.recall_lost) == (2.0, 3.0, 0.0)
    # nearest group only: A, D, Other, Other, Other. Positives predicted A (right) and D (wrong) of 3 gold.
    one = rows[1]
    assert one.accuracy == 0.6
    assert (one.recall, one.f1) == (pytest.approx(1 / 3), pytest.approx(0.4))  # P 1/2, R 1/3
    assert one.macro_f1 == pytest.approx(0.25)  # A 1; B, C, D 0
    assert (one.groups_per_sentence, one.calls_per_sentence) == (1.0, pytest.approx(7 / 5))
    assert one.recall_lost == pytest.approx(2 / 3)
    # two nearest: as every group, but s5 (cherry, apple: both group 0) asks one group and says Other
    two = rows[2]
    assert (two.accuracy, two.recall, two.recall_lost) == (1.0, 1.0, 0.0)
    assert (two.groups_per_sentence, two.calls_per_sentence) == (pytest.approx(9 / 5), pytest.approx(14 / 5))


def test_replay_needs_an_mbre_run_over_every_group():
    partial = sample("p", "apple", "A", [extraction(0, "A")], yes("A", 0.9))
    with pytest.raises(ReplayError, match=r"did not ask group\(s\) \[1\]"):
        replay(partial, INVENTORY, None)
    assert replay(partial, INVENTORY, 1).label == "A"  # what was asked is enough for the nearest group
    multiclass = SAMPLES[0].model_copy(
        update={"provenance": PROVENANCE.model_copy(update={"strategy": "binary"})}
    )
    with pytest.raises(ReplayError, match="only an mbre run"):
        replay(multiclass, INVENTORY, 1)
    with pytest.raises(ValueError, match="5 samples but 1 gold"):
        route_replay(SAMPLES, ["A"], INVENTORY)
