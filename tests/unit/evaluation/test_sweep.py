from __future__ import annotations

import pytest

from mbre.errors import SettingError
from mbre.evaluation.replays import epsilon_sweep, parse_epsilons, redecide
from mbre.schemas.instances import Instance
from mbre.schemas.results import Decision, Extraction, Sample, Verdict
from tests.support.data import PROVENANCE

INSTANCE = Instance(
    id="x", text="a b", head={"name": "a", "start": 0, "end": 1}, tail={"name": "b", "start": 2, "end": 3}
)


def sample(gold: str, *verdicts: tuple[str, float]) -> Sample:
    decision = Decision(
        label=None,
        confidence=None,
        rule="ambiguous",
        verdicts=[Verdict(label=label, holds=True, confidence=c) for label, c in verdicts],
    )
    return Sample.from_decision(INSTANCE.model_copy(update={"relation": gold}), decision, PROVENANCE)


def test_sweep_replays_the_decision_without_model_calls():
    samples = [
        sample("A", ("A", 0.995), ("B", 0.9)),  # best A at eps >= 0.005
        sample("B", ("A", 0.97), ("B", 0.96)),  # A (wrong) once eps >= 0.03
        sample("C", ("C", 0.8)),  # a single verified label is kept at any eps
        sample("D", ("D", 0.5), ("A", 0.6)),  # never confident enough: abstains
    ]
    rows = {row.epsilon: row for row in epsilon_sweep(samples, "Other", [0.001, 0.01, 0.05, 0.5])}
    # eps 0.001: only sample 3 decides (C, right): kept 1/4, precision 1/1
    assert (rows[0.001].kept, rows[0.001].precision) == (0.25, 1.0)
    # eps 0.01: samples 1 (A, right) and 3: kept 2/4, precision 2/2
    assert (rows[0.01].kept, rows[0.01].precision) == (0.5, 1.0)
    # eps 0.05: samples 1, 2 (A, wrong), 3: kept 3/4, precision 2/3
    assert rows[0.05].kept == 0.75 and rows[0.05].precision == pytest.approx(2 / 3)
    # eps 0.5: all four; sample 4 takes A (0.6, wrong): precision 2/4
    assert (rows[0.5].kept, rows[0.5].precision) == (1.0, 0.5)


def test_epsilons_parse_sorted_and_distinct_and_out_of_range_is_refused():
    assert parse_epsilons("0.3, 0.01,0.3,1") == [0.01, 0.3, 1.0]
    for bad in ("", "0.1,lots", "1.5", "-0.1"):
        with pytest.raises(SettingError, match="epsilons must be numbers from 0 to 1"):
            parse_epsilons(bad)


def test_a_replay_scores_with_the_group_weight_the_run_used():
    group = Extraction(group=0, labels=["A", "B"], label="A", confidence=0.9, probabilities=[0.9, 0.05, 0.05])
    verdicts = [
        Verdict(label="A", holds=False, confidence=0.6, p_yes=0.4),
        Verdict(label="B", holds=True, confidence=0.8, p_yes=0.8),
    ]
    decision = Decision(label=None, confidence=None, rule="scored", extractions=[group], verdicts=verdicts)
    calibrated = PROVENANCE.model_copy(update={"decision_policy": "calibrated", "strategy": "mbre"})
    for weight, label in ((1.0, "A"), (0.0, "B")):
        origin = calibrated.model_copy(update={"group_weight": weight})
        replayed = redecide(Sample.from_decision(INSTANCE, decision, origin), "Other")
        assert replayed.label == label
