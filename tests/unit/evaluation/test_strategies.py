"""Evaluation with a scripted fake model on the fruit schema (tests/fruits.py), every number computed by
hand."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from mbre import MbreContext
from mbre.errors import InputError, SettingError
from mbre.evaluation.gold import load_gold, select_slice
from mbre.evaluation.strategies import Evaluation, evaluate
from mbre.inventory.inventory import Inventory
from mbre.run.rundir import RunDir, read_samples
from mbre.schemas.instances import Instance, read_instances
from mbre.schemas.results import Decision, Sample
from mbre.student.comparison import evaluate_student
from mbre.student.training import TrainingDataError
from tests.support.data import PROVENANCE, SEMEVAL
from tests.support.fakes import Reply, ScriptedChatModel, content_free, instance_in, text_of
from tests.support.fruits import (
    GOLD,
    INVENTORY,
    SCHEMA,
    Plan,
    fruit_model,
    keyword_sentences,
    run_fruit_evaluation,
    sentence,
)


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory) -> Evaluation:
    return run_fruit_evaluation(tmp_path_factory.mktemp("evaluation"))


def by_strategy(evaluation: Evaluation):
    return {result.strategy: result for result in evaluation.strategies}


def test_quality_per_strategy_is_scored_on_the_same_sentences(evaluation):
    results = by_strategy(evaluation)
    mbre, multiclass, binary = results["mbre"], results["multiclass"], results["binary"]
    # gold A, B, Other, D; mbre says A, B, Other, abstains
    assert mbre.accuracy == 0.75 and mbre.abstained == 0.25
    assert (mbre.micro.precision, mbre.micro.recall) == (1.0, pytest.approx(2 / 3))
    assert mbre.micro.f1 == pytest.approx(0.8)
    assert mbre.macro.f1 == pytest.approx(2 / 3)  # A 1, B 1, D 0
    # multiclass says A, C, Other, D
    assert multiclass.accuracy == 0.75 and multiclass.abstained == 0.0
    assert multiclass.micro.precision == pytest.approx(2 / 3) and multiclass.micro.f1 == pytest.approx(2 / 3)
    assert multiclass.macro.f1 == pytest.approx(0.5)  # A 1, B 0, C 0, D 1
    # binary says A, B, Other, A
    assert binary.accuracy == 0.75 and binary.micro.recall == pytest.approx(2 / 3)
    assert binary.macro.f1 == pytest.approx((2 / 3 + 1 + 0) / 3)  # A: P 1/2, R 1
    assert all(result.semeval_macro_f1 is None and not result.no_sample for result in results.values())


def test_per_label_table_and_confusion_matrix(evaluation):
    mbre = by_strategy(evaluation)["mbre"]
    rows = {row.label: row for row in mbre.per_label}
    assert sorted(rows) == ["A", "B", "D"]
    assert (rows["D"].support, rows["D"].predicted, rows["D"].correct, rows["D"].f1) == (1, 0, 0, 0.0)
    assert mbre.confusion.labels == ["A", "B", "C", "D", "Other"]
    assert mbre.confusion.matrix == [
        [1, 0, 0, 0, 0, 0],
        [0, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 1],  # gold D abstained: the last column
        [0, 0, 0, 0, 1, 0],
    ]


def test_cost_per_sentence_and_ratios(evaluation):
    results = by_strategy(evaluation)
    # mbre: 2 group answers per sentence, plus 1, 2, 0 and 2 verdicts = 13 calls; the fake bills 100 + 2
    mbre = results["mbre"].cost
    assert (mbre.calls, mbre.prompt_tokens, mbre.completion_tokens) == (13, 1300, 26)
    assert mbre.calls_per_sentence == 3.25 and mbre.prompt_tokens_per_sentence == 325.0
    assert mbre.seconds > 0 and mbre.seconds_per_sentence == pytest.approx(mbre.seconds / 4)
    assert results["multiclass"].cost.calls_per_sentence == 1.0
    assert results["binary"].cost.calls_per_sentence == 4.0  # one yes/no per positive label
    assert evaluation.reference == "mbre"
    assert results["mbre"].ratios["calls"] == 1.0
    assert results["multiclass"].ratios["calls"] == pytest.approx(1 / 3.25)
    assert results["binary"].ratios["prompt_tokens"] == pytest.approx(4 / 3.25)


def test_epsilon_sweep_replays_the_mbre_run(evaluation):
    rows = {row.epsilon: (row.kept, row.precision) for row in evaluation.epsilon_sweep}
    # s1 (single) and s3 (no candidate) always; s2 once 1 - eps <= 0.97; s4 (0.86 at best) never
    assert rows == {
        0.001: (0.5, 1.0),
        0.01: (0.5, 1.0),
        0.02: (0.5, 1.0),
        0.05: (0.75, 1.0),
        0.1: (0.75, 1.0),
    }


def test_route_replay_rows_come_from_the_mbre_run(evaluation):
    rows = {row.top_k: row for row in evaluation.route}
    assert list(rows) == [None, 1, 2, 3]
    assert (rows[None].recall, rows[None].calls_per_sentence) == (pytest.approx(2 / 3), 3.25)
    # Only the nearest fruit's group: s4 asks only group 1, so D is verified alone and wins.
    assert (rows[1].accuracy, rows[1].recall, rows[1].recall_lost) == (1.0, 1.0, pytest.approx(-1 / 3))
    assert (rows[1].groups_per_sentence, rows[1].calls_per_sentence) == (1.0, 1.75)
    # Two nearest: only s3 (cherry, then apple: both group 0) asks one group.
    assert (rows[2].groups_per_sentence, rows[2].calls_per_sentence, rows[2].recall_lost) == (1.75, 3.0, 0.0)


def test_the_mbre_run_asks_every_group_even_with_route_top_k(tmp_path):
    ctx = MbreContext(chat_model=fruit_model(), route_top_k=1, decision="paper")
    evaluation = evaluate(INVENTORY, GOLD, ["mbre"], ctx, tmp_path, top_ks=[2])
    assert by_strategy(evaluation)["mbre"].cost.calls == 13
    assert [row.top_k for row in evaluation.route] == [None, 1, 2]
    assert evaluation.setup.settings["route_top_k"] == 1


def test_samples_are_kept_per_strategy_and_a_second_call_resumes(tmp_path):
    first = run_fruit_evaluation(tmp_path)
    for result in first.strategies:
        assert sorted(s.id for s in read_samples(Path(result.samples) / "samples.jsonl")) == [
            "s1",
            "s2",
            "s3",
            "s4",
        ]
    model = ScriptedChatModel(responder=lambda messages: pytest.fail("a resumed run asks nothing"))
    again = evaluate(
        INVENTORY,
        GOLD,
        ["mbre", "multiclass", "binary"],
        MbreContext(chat_model=model, decision="paper"),
        tmp_path,
    )
    for old, new in zip(first.strategies, again.strategies, strict=True):
        assert (new.accuracy, new.cost.calls, new.cost.seconds_per_sentence) == (
            old.accuracy,
            old.cost.calls,
            old.cost.seconds_per_sentence,  # the first invocation's time, kept in the run directory
        )
    # An invocation whose answers came from the cache timed the cache: it is left out.
    RunDir(tmp_path / "mbre").append_timing(sentences=4, seconds=0.001, calls=13, cached_calls=13)
    cached = evaluate(INVENTORY, GOLD, ["mbre"], MbreContext(chat_model=model, decision="paper"), tmp_path)
    assert cached.strategies[0].cost.seconds_per_sentence == first.strategies[0].cost.seconds_per_sentence


def test_a_sentence_without_a_sample_counts_as_an_abstention(tmp_path):
    def respond(messages) -> Reply:
        if not content_free(messages) and instance_in(text_of(messages), GOLD).id == "s1":
            raise ConnectionError("endpoint down")
        return fruit_model().responder(messages)

    evaluation = evaluate(
        INVENTORY,
        GOLD,
        ["multiclass"],
        MbreContext(chat_model=ScriptedChatModel(responder=respond)),
        tmp_path,
    )
    (result,) = evaluation.strategies
    assert list(result.no_sample) == ["s1"] and "endpoint down" in result.no_sample["s1"]
    assert result.abstained == 0.25 and result.accuracy == 0.5  # C for s2 is wrong, s3 and s4 right
    assert result.cost.sentences == 3 and result.cost.calls_per_sentence == 1.0
    assert evaluation.epsilon_sweep == [] and evaluation.route == []
    assert evaluation.reference == "multiclass"


def test_the_official_semeval_score_appears_with_the_semeval_schema(tmp_path, semeval_schema):
    gold = [
        sentence("t1", "audits", "about", "waste", "Message-Topic(e1,e2)"),
        sentence("t2", "company", "fabricates", "chairs", "Product-Producer(e2,e1)"),
    ]
    # multiclass gets t1 right and t2's type right but not its direction
    plans = {"t1": Plan(multiclass="Message-Topic(e1,e2)"), "t2": Plan(multiclass="Product-Producer(e1,e2)")}
    ctx = MbreContext(chat_model=fruit_model(plans, gold, semeval_schema))
    evaluation = evaluate(Inventory.build(semeval_schema), gold, ["multiclass"], ctx, tmp_path)
    (result,) = evaluation.strategies
    assert result.semeval_macro_f1 == pytest.approx(0.5)  # Message-Topic F1 1, Product-Producer F1 0
    assert result.accuracy == 0.5


def test_evaluate_refuses_gold_outside_the_schema_and_repeated_strategies(tmp_path):
    stray = GOLD[0].model_copy(update={"relation": "E"})
    ctx = MbreContext(chat_model=fruit_model())
    with pytest.raises(InputError, match=re.escape("no gold label of the schema, e.g. 's1'")):
        evaluate(INVENTORY, [stray], ["mbre"], ctx, tmp_path)
    for strategies in (["mbre", "mbre"], ["mbre", "cheap"], []):
        with pytest.raises(SettingError, match="name distinct strategies from mbre, multiclass, binary"):
            evaluate(INVENTORY, GOLD, strategies, ctx, tmp_path)


def test_the_slice_is_the_seeded_draw_of_bench_strategies(semeval_test):
    assert select_slice(semeval_test, 5, 0) == random.Random(0).sample(semeval_test, 5)
    assert select_slice(semeval_test, 5, 1) != select_slice(semeval_test, 5, 0)
    assert select_slice(GOLD, None, 0) == GOLD
    with pytest.raises(SettingError, match="between 1 and 4"):
        select_slice(GOLD, 5, 0)


def jsonl(instance: Instance, **changes) -> str:
    return json.dumps({**instance.model_dump(mode="json"), **changes})


def test_load_gold_names_the_line_and_field_of_a_label_outside_the_schema(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(f"{jsonl(GOLD[0])}\n\n{jsonl(GOLD[1], relation='Banana')}\n")
    with pytest.raises(
        InputError, match=re.escape(f"{path}:3: field 'relation': gold label 'Banana' of sentence 's2'")
    ):
        load_gold(path, labels=SCHEMA.labels)
    assert load_gold(path) and len(load_gold(path)) == 2  # without a schema any label is gold


def test_load_gold_refuses_a_sentence_without_a_label(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(f"{jsonl(GOLD[0])}\n{jsonl(GOLD[1], relation=None)}\n")
    with pytest.raises(
        InputError, match=re.escape(f"{path}:2: field 'relation': sentence 's2' has no gold label")
    ):
        load_gold(path, "jsonl")


def test_load_gold_lines_in_semeval_and_tacred_files(tmp_path):
    semeval = tmp_path / "TEST_FILE.TXT"
    semeval.write_text(
        '1\t"<e1>Ann</e1> apple <e2>Bob</e2>"\nA\nComment: fine\n\n'
        '2\t"<e1>Cat</e1> banana <e2>Dan</e2>"\nZed\n\n'
    )
    with pytest.raises(InputError, match=re.escape(f"{semeval}:6: field 'relation': gold label 'Zed'")):
        load_gold(semeval, labels=SCHEMA.labels)

    record = {"token": ["Ann", "apple", "Bob"], "subj_start": 0, "subj_end": 0, "obj_start": 2, "obj_end": 2}
    tacred = tmp_path / "test.json"
    first = json.dumps({"id": "t1", "relation": "A", **record})
    second = json.dumps({"id": "t2", **record, "relation": "relation"}, indent=1)  # a multi-line record
    tacred.write_text(f"[\n{first},\n{second}\n]\n")
    line = 3 + second.splitlines().index(' "relation": "relation"')
    with pytest.raises(
        InputError, match=re.escape(f"{tacred}:{line}: field 'relation': gold label 'relation'")
    ):
        load_gold(tacred, "tacred", labels=SCHEMA.labels)


def test_malformed_gold_is_the_loaders_error(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(f"{jsonl(GOLD[0])}\n{{not json\n")
    with pytest.raises(InputError, match=re.escape(f"{path}:2: not valid JSON")):
        load_gold(path, labels=SCHEMA.labels)


def test_read_samples_names_a_bad_line(tmp_path):
    good = Sample.from_decision(GOLD[0], Decision(label="A", confidence=0.9, rule="single"), PROVENANCE)
    path = tmp_path / "samples.jsonl"
    path.write_text(
        good.model_dump_json() + "\n" + json.dumps({**good.model_dump(mode="json"), "decision": 3}) + "\n"
    )
    with pytest.raises(InputError, match=re.escape(f"{path}:2: field 'decision'")):
        read_samples(path)
    path.write_text(good.model_dump_json() + "\n")
    assert read_samples(path) == [good]


def test_student_against_a_gold_control_of_the_same_size():
    nouns = ["storm", "flood", "spark", "fire", "virus", "fever"]
    discovered = keyword_sentences("d", nouns, 12)
    samples = [
        Sample.from_decision(
            instance.model_copy(update={"relation": None}),
            Decision(label=None if index == 0 else instance.relation, confidence=None, rule="single"),
            PROVENANCE,
        )
        for index, instance in enumerate(discovered)
    ]
    pool = keyword_sentences("g", nouns, 30)
    test = keyword_sentences("t", ["quake", "leak", "rust", "smoke"], 8)
    comparison = evaluate_student(samples, test, pool, no_relation="Other", seed=3)
    # sample 0 abstained: 11 labelled, 6 cause (odd indices 1..11) and 5 Other
    assert comparison.discovered.train_size == comparison.gold.train_size == 11
    assert comparison.discovered.label_distribution == {"cause": 6, "Other": 5}
    assert sum(comparison.gold.label_distribution.values()) == 11
    tfidf = comparison.discovered.scores["tfidf"]
    assert tfidf.accuracy == 1.0 and tfidf.test_size == 8
    assert set(comparison.gold.scores) == {"tfidf"}  # the default
    assert comparison.samples_provenance == [PROVENANCE] and comparison.test_size == 8


def test_student_refuses_samples_that_all_abstained():
    sample = Sample.from_decision(
        GOLD[0], Decision(label=None, confidence=None, rule="abstained"), PROVENANCE
    )
    with pytest.raises(TrainingDataError, match="abstained"):
        evaluate_student([sample], GOLD, GOLD, no_relation="Other")


def test_semeval_shared_gold_loads_with_its_schema(semeval_schema):
    assert len(load_gold(SEMEVAL / "test.jsonl", labels=semeval_schema.labels)) == len(
        read_instances(SEMEVAL / "test.jsonl")
    )
