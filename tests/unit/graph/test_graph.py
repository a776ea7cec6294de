"""The whole graph with a scripted fake model: routing, parallel extraction, the verification loop, the
contrast with the inverse, calibration and the decision policies."""

from __future__ import annotations

import math

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from mbre import MbreContext, build_graph
from mbre.inventory.grouping import group_relations
from mbre.llm.structured import choice_probabilities
from mbre.prompts.render import verbalized_messages
from mbre.schemas.instances import Instance
from mbre.schemas.relations import RelationSchema
from mbre.schemas.results import Decision
from tests.support.data import SEMEVAL
from tests.support.fakes import (
    Reply,
    ScriptedChatModel,
    asked_label,
    choose,
    content_free,
    even,
    is_group_question,
    offered,
    options,
    stating,
    text_of,
    yes_no,
)

SCHEMA = RelationSchema.from_file(SEMEVAL / "relations.json")
INSTANCE = Instance(
    id="s1",
    text="The most common audits were about waste and recycling.",
    head={"name": "audits", "start": 16, "end": 22},
    tail={"name": "waste", "start": 34, "end": 39},
)


def scripted(
    group_answers: dict[str, float],
    verdicts: dict[str, tuple[str, float | None]],
    *,
    blank=even,
) -> ScriptedChatModel:
    """Each group answers with the first label of `group_answers` it offers, at that probability (else
    "none" at 0.8); verifications come from `verdicts` (else "no" at 0.9); content-free questions from
    `blank`."""

    def respond(messages) -> Reply:
        if content_free(messages):
            return blank(messages)
        if is_group_question(messages):
            labels = [label for label in offered(messages, SCHEMA, INSTANCE) if label in group_answers]
            if labels:
                return choose(messages, SCHEMA, INSTANCE, labels[0], group_answers[labels[0]])
            return choose(messages, SCHEMA, INSTANCE, None, 0.8)
        answer, probability = verdicts.get(asked_label(text_of(messages), SCHEMA, INSTANCE), ("no", 0.9))
        return yes_no(answer, probability)

    return ScriptedChatModel(responder=respond)


def sentence_calls(model: ScriptedChatModel) -> list:
    return [messages for messages in model.calls if not content_free(messages)]


@pytest.fixture(scope="module")
def graph():
    return build_graph(SCHEMA)


def run(graph, **ctx) -> Decision:
    return graph.invoke({"instance": INSTANCE}, context=MbreContext(**ctx))["decision"]


def test_mbre_asks_every_group_then_verifies_each_answer(graph, semeval_schema):
    model = scripted(
        {"Message-Topic(e1,e2)": 0.8, "Cause-Effect(e2,e1)": 0.8},
        {"Message-Topic(e1,e2)": ("yes", 0.97), "Cause-Effect(e2,e1)": ("no", 0.9)},
    )
    decision = run(graph, chat_model=model, decision="paper")
    assert decision.label == "Message-Topic(e1,e2)" and decision.rule == "single"
    assert decision.confidence == pytest.approx(0.97)
    grouping = group_relations(semeval_schema)
    groups = [m for m in sentence_calls(model) if is_group_question(m)]
    assert len(groups) == grouping.k == 3
    assert sorted(tuple(offered(m, SCHEMA, INSTANCE)) for m in groups) == sorted(
        tuple(label for label in g if label != "Other") for g in grouping.groups
    )
    assert sorted(decision.candidates) == ["Cause-Effect(e2,e1)", "Message-Topic(e1,e2)"]
    assert [v.label for v in decision.verdicts] == decision.candidates
    assert decision.usage.calls == 5 == len(sentence_calls(model))


def test_no_relation_label_is_never_offered_and_none_is_the_last_option(graph):
    model = scripted({}, {})
    decision = run(graph, chat_model=model, decision="paper")
    other = SCHEMA.get("Other").description
    assert all(other.split(":")[0] not in text_of(m) for m in model.calls)
    for messages in sentence_calls(model):
        assert options(messages)[-1][1] == "None of these statements is true."
    assert (decision.label, decision.rule, decision.usage.calls) == ("Other", "no_candidate", 3)


def test_paper_rule_takes_the_most_confident_above_one_minus_epsilon(graph):
    labels = ("Message-Topic(e1,e2)", "Cause-Effect(e2,e1)", "Component-Whole(e2,e1)")
    model = scripted(
        dict.fromkeys(labels, 0.8),
        {labels[0]: ("yes", 0.93), labels[1]: ("yes", 0.96), labels[2]: ("yes", 0.5)},
    )
    decision = run(graph, chat_model=model, decision="paper")
    assert (decision.label, decision.rule) == ("Cause-Effect(e2,e1)", "most_confident")
    assert run(graph, chat_model=model, decision="paper", epsilon=0.01).rule == "ambiguous"


def test_decision_first_stops_the_loop_at_the_first_yes(graph):
    labels = ("Message-Topic(e1,e2)", "Cause-Effect(e2,e1)", "Component-Whole(e2,e1)")
    model = scripted(dict.fromkeys(labels, 0.8), {label: ("yes", 0.9) for label in labels})
    decision = run(graph, chat_model=model, decision="first")
    assert decision.rule == "first_verified"
    assert len(decision.verdicts) == 1 and decision.label == decision.candidates[0]
    assert decision.usage.calls == 3 + 1


def test_verification_loop_is_bounded(graph, semeval_schema):
    decision = run(graph, chat_model=scripted({}, {}), strategy="binary", max_verifications=4)
    assert len(decision.verdicts) == 4 and len(decision.candidates) == len(semeval_schema.positive)
    assert decision.usage.calls == 4


def test_binary_baseline_asks_every_label(graph, semeval_schema):
    model = scripted({}, {"Message-Topic(e1,e2)": ("yes", 0.7), "Message-Topic(e2,e1)": ("yes", 0.8)})
    paper = run(graph, chat_model=model, strategy="binary", decision="paper")
    assert paper.usage.calls == len(semeval_schema.positive) == 18
    assert (paper.label, paper.rule) == ("Message-Topic(e2,e1)", "most_confident")
    calibrated = run(graph, chat_model=model, strategy="binary")
    assert (calibrated.label, calibrated.rule) == ("Message-Topic(e2,e1)", "scored")
    assert calibrated.scores["Message-Topic(e2,e1)"] == pytest.approx(0.8)
    assert calibrated.scores["Cause-Effect(e1,e2)"] == pytest.approx(0.1)


def test_multiclass_baseline_is_one_call_over_all_labels(graph, semeval_schema):
    model = scripted({"Message-Topic(e1,e2)": 0.8}, {})
    decision = run(graph, chat_model=model, strategy="multiclass", decision="paper")
    assert decision.usage.calls == 1 and decision.rule == "multiclass"
    (messages,) = sentence_calls(model)
    assert offered(messages, SCHEMA, INSTANCE) == [r.label for r in semeval_schema.positive]
    assert [letter for letter, _ in options(messages)] == list("ABCDEFGHIJKLMNOPQRS")
    assert decision.label == "Message-Topic(e1,e2)" and decision.confidence == pytest.approx(0.8)


def test_route_top_k_asks_fewer_groups(graph):
    decision = run(graph, chat_model=scripted({}, {}), route_top_k=1, decision="paper")
    assert decision.usage.calls == 1 == len(decision.extractions)


def test_unparseable_answer_is_retried_once_then_kept_as_abstention(graph):
    model = ScriptedChatModel(responder=lambda messages: Reply("I think it is a topic thing"))
    decision = run(graph, chat_model=model)
    assert decision.rule == "abstained" and decision.label is None
    assert all(e.abstained and e.raw == "I think it is a topic thing" for e in decision.extractions)
    assert all(e.error for e in decision.extractions)
    assert decision.usage.calls == 2 * 3  # each group asked, then re-asked once
    assert decision.abstentions == 3


def test_a_retry_that_parses_is_used(graph):
    seen: set[str] = set()

    def garbage_first(messages) -> Reply:  # per prompt: parallel groups interleave
        prompt = text_of(messages)
        if prompt in seen:
            return Reply(options(messages)[-1][0])
        seen.add(prompt)
        return Reply("garbage")

    decision = run(graph, chat_model=ScriptedChatModel(responder=garbage_first), decision="paper")
    assert decision.rule == "no_candidate" and decision.usage.calls == 6


def test_a_letter_beyond_the_options_is_not_an_answer(graph):
    """Injection-style: the model 'obeys' a sentence with a letter no option has."""
    model = ScriptedChatModel(responder=lambda messages: Reply("Z", {"Z": 1.0}))
    decision = run(graph, chat_model=model, parse_retries=0)
    assert decision.label is None and all(e.abstained for e in decision.extractions)


def test_calibrated_verifies_each_groups_favourite_and_its_inverse(graph):
    """At candidate_share 0 every group proposes its most likely positive label, even one whose letter
    said none; the leader's inverse (the same relation, head and tail swapped) is verified before
    deciding. By default a group proposes only a label it gives 1.5 times a chance share."""
    model = scripted(
        {"Message-Topic(e1,e2)": 0.7},
        {"Message-Topic(e1,e2)": ("yes", 0.9), "Message-Topic(e2,e1)": ("yes", 0.6)},
    )
    every = run(graph, chat_model=model, candidate_share=0.0)
    assert len(every.extractions) == 3
    assert every.candidates[-1] == "Message-Topic(e2,e1)" and len(every.candidates) == 4
    assert every.usage.calls == 3 + 4
    # The two groups that answered "none" at 0.8 spread 0.2 over their labels: no candidate worth a call.
    decision = run(graph, chat_model=model)
    assert decision.candidates == ["Message-Topic(e1,e2)", "Message-Topic(e2,e1)"]
    assert decision.usage.calls == 3 + 2
    assert decision.label == every.label
    assert decision.scores == {label: every.scores[label] for label in decision.candidates}
    # Its group preferred it to none by 0.7 to the share of the rest; the verifier said yes at 0.9. By
    # default the group counts a quarter as much as the verifier, in log-odds.
    (group,) = [e for e in decision.extractions if "Message-Topic(e1,e2)" in e.labels]
    preference = 0.7 / (0.7 + 0.3 / len(group.labels))
    odds = ((0.9 / 0.1) * (preference / (1 - preference)) ** 0.25) ** (1 / 1.25)
    assert decision.scores["Message-Topic(e1,e2)"] == pytest.approx(odds / (1 + odds))
    assert (decision.label, decision.rule) == ("Message-Topic(e1,e2)", "scored")
    assert decision.confidence == pytest.approx(odds / (1 + odds))
    # At group_weight 1 both count alike: the geometric mean of their odds.
    even_weight = run(graph, chat_model=model, group_weight=1.0)
    expected = 1 / (1 + math.sqrt((1 - preference) / preference * 0.1 / 0.9))
    assert even_weight.scores["Message-Topic(e1,e2)"] == pytest.approx(expected)
    # At group_weight 0 the verifier alone ranks: it said yes at 0.9.
    alone = run(graph, chat_model=model, group_weight=0.0)
    assert alone.scores["Message-Topic(e1,e2)"] == pytest.approx(0.9)
    assert alone.confidence == pytest.approx(0.9)


def test_calibrated_gives_no_relation_when_no_group_names_a_candidate(graph):
    model = scripted({}, {})
    decision = run(graph, chat_model=model)
    assert (decision.label, decision.rule) == ("Other", "no_candidate")
    assert decision.candidates == [] and decision.usage.calls == 3


def test_calibrated_gives_no_relation_below_the_threshold(graph):
    model = scripted({}, {})
    decision = run(graph, chat_model=model, candidate_share=0.0)
    assert (decision.label, decision.rule) == ("Other", "below_threshold")
    assert len(decision.candidates) == 3 and max(decision.scores.values()) < 0.75
    relaxed = run(graph, chat_model=model, threshold=0.0, candidate_share=0.0)
    assert relaxed.rule == "scored" and relaxed.label == max(relaxed.scores, key=relaxed.scores.get)
    label = relaxed.label
    picky = run(graph, chat_model=model, threshold=0.0, thresholds=((label, 0.99),), candidate_share=0.0)
    assert picky.label != label


def test_widen_verifies_the_groups_next_preferred_labels_while_no_score_reaches_the_threshold(graph):
    """extra_verifications=2: the favourite's verifier says no, so the loop goes on with the labels the
    groups prefer next (here the favourite's group-mates, which share its 0.3 over fewer options than
    the others' 0.2), then contrasts the leader with its inverse; the default widens nothing."""
    favourite, inverse = "Message-Topic(e1,e2)", "Message-Topic(e2,e1)"
    model = scripted({favourite: 0.7}, {})  # every verification: no
    default = run(graph, chat_model=model)
    assert default.candidates == [favourite, inverse]
    widened = run(graph, chat_model=model, extra_verifications=2)
    (group,) = [e for e in widened.extractions if favourite in e.labels]
    mates = [label for label in group.labels if label != favourite][:2]
    assert widened.candidates == [favourite, *mates, inverse]
    assert [v.label for v in widened.verdicts] == widened.candidates
    assert widened.usage.calls == 3 + 4
    assert (widened.label, widened.rule) == ("Other", "below_threshold")


def test_widen_stops_as_soon_as_a_label_is_decided(graph):
    favourite = "Message-Topic(e1,e2)"
    probe = run(graph, chat_model=scripted({favourite: 0.7}, {}), extra_verifications=1)
    first_mate = probe.candidates[1]
    model = scripted({favourite: 0.7}, {first_mate: ("yes", 0.97)})
    decision = run(graph, chat_model=model, extra_verifications=3)
    assert decision.candidates[:2] == [favourite, first_mate]
    assert len(decision.candidates) <= 3  # no second widening; at most the new leader's inverse
    assert (decision.label, decision.rule) == (first_mate, "scored")
    assert decision.usage.calls == 3 + len(decision.candidates)


def test_widen_keeps_to_the_verification_bound_and_leaves_the_baselines_alone(graph):
    model = scripted({"Message-Topic(e1,e2)": 0.7}, {})
    bounded = run(graph, chat_model=model, extra_verifications=2, max_verifications=1)
    assert len(bounded.verdicts) == 1 and bounded.usage.calls == 3 + 1
    binary = run(graph, chat_model=model, strategy="binary", extra_verifications=2)
    assert binary.usage.calls == 18
    paper = run(graph, chat_model=model, decision="paper", extra_verifications=2)
    assert paper.candidates == ["Message-Topic(e1,e2)"]


def test_calibration_divides_out_the_bias_of_each_question(graph):
    """A model that says yes to anything says it to the content-free sentence too: after calibration
    its usual yes is even odds, and only a stronger yes counts."""
    verdicts = {label: ("yes", 0.8) for label in SCHEMA.labels}
    verdicts["Message-Topic(e1,e2)"] = ("yes", 0.95)

    def yes_man(messages) -> Reply:
        return even(messages) if is_group_question(messages) else yes_no("yes", 0.8)

    model = scripted({}, verdicts, blank=yes_man)
    decision = run(graph, chat_model=model, strategy="binary")
    (topic,) = [v for v in decision.verdicts if v.label == "Message-Topic(e1,e2)"]
    assert topic.p_yes == pytest.approx(0.95)
    assert topic.calibrated == pytest.approx((0.95 / 0.05 / 4) / (1 + 0.95 / 0.05 / 4))
    assert all(v.calibrated == pytest.approx(0.5) for v in decision.verdicts if v is not topic)
    assert decision.label == "Message-Topic(e1,e2)"
    blanks = [m for m in model.calls if content_free(m)]
    assert len(blanks) == 3 * 18  # three content-free sentences per question, asked once
    run(graph, chat_model=model, strategy="binary")
    assert len([m for m in model.calls if content_free(m)]) == 3 * 18
    raw = run(graph, chat_model=model, strategy="binary", calibrate=False)
    assert all(v.calibrated is None for v in raw.verdicts)


def test_stream_emits_node_updates_and_progress_events(graph):
    model = scripted({"Message-Topic(e1,e2)": 0.8}, {"Message-Topic(e1,e2)": ("yes", 0.9)})
    nodes, events = [], []
    for mode, chunk in graph.stream(
        {"instance": INSTANCE},
        context=MbreContext(chat_model=model, decision="paper"),
        stream_mode=["updates", "custom"],
    ):
        if mode == "updates":
            nodes += list(chunk)
        else:
            events.append(chunk["event"])
    assert nodes[0] == "route" and nodes[-1] == "decide"
    assert nodes.count("extract") == 3 and "propose" in nodes and "verify" in nodes
    assert events[0] == "routed" and events[-1] == "decided" and events.count("llm") == 4


def test_choice_probabilities_sum_spellings_and_normalise_over_the_choices():
    alternatives = [("Yes", 0.5), (" yes", 0.2), ("No", 0.2), ("Maybe", 0.1)]
    token = {
        "token": "Yes",
        "logprob": math.log(0.5),
        "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in alternatives],
    }
    message = AIMessage(content="Yes.", response_metadata={"logprobs": {"content": [token]}})
    assert choice_probabilities(message, ("yes", "no")) == pytest.approx((0.7 / 0.9, 0.2 / 0.9))
    letters = [{"token": t, "logprob": math.log(p)} for t, p in [("B", 0.6), (" A", 0.3), ("b", 0.1)]]
    message = AIMessage(
        content=" B",
        response_metadata={
            "logprobs": {
                "content": [
                    {"token": " ", "logprob": 0.0},
                    {"token": "B", "logprob": math.log(0.6), "top_logprobs": letters},
                ]
            }
        },
    )
    assert choice_probabilities(message, ("A", "B", "C")) == pytest.approx((1 / 3, 2 / 3, 0.0))
    token["top_logprobs"] = []
    assert (
        choice_probabilities(
            AIMessage(content="Yes", response_metadata={"logprobs": {"content": [token]}}), ("yes", "no")
        )
        is None
    )


def test_verbalized_confidence_is_asked_for_and_read_as_each_answers_distribution(graph):
    plain = scripted({"Message-Topic(e1,e2)": 0.8}, {"Message-Topic(e1,e2)": ("yes", 0.95)})
    model = ScriptedChatModel(responder=lambda messages: stating(plain.responder(messages)))
    decision = run(graph, chat_model=model, confidence="verbalized")
    # Every question asked for the word and a percentage, not for the word alone.
    assert all("as a percentage" in text_of(messages) for messages in model.calls)
    assert not any("letter only" in text_of(messages) for messages in model.calls)
    assert decision.label == "Message-Topic(e1,e2)" and decision.confidence_source() == "verbalized"
    (favourite,) = [e for e in decision.extractions if e.label == "Message-Topic(e1,e2)"]
    assert favourite.source == "verbalized" and favourite.confidence == pytest.approx(0.8)
    assert favourite.probabilities is not None and sorted(favourite.probabilities)[:-1] == pytest.approx(
        [0.2 / (len(favourite.labels))] * len(favourite.labels)
    )
    (verdict,) = [v for v in decision.verdicts if v.label == "Message-Topic(e1,e2)"]
    assert verdict.p_yes == pytest.approx(0.95) and verdict.source == "verbalized"


def test_rotated_samples_spread_a_leaning_towards_one_letter_and_keep_an_answer_about_the_sentence(graph):
    first_letter = ScriptedChatModel(
        responder=lambda messages: Reply("A") if is_group_question(messages) else yes_no("no")
    )
    same = run(graph, chat_model=first_letter, confidence="sampled")
    rotated = run(graph, chat_model=first_letter, confidence="sampled", confidence_order="rotated")
    for asked in (same, rotated):
        assert {e.source for e in asked.extractions} == {"sampled:3"}
    # The same order: three votes for whatever stands at A. Rotated: one vote each for three labels.
    assert all(e.label == e.labels[0] and e.confidence == max(e.probabilities) for e in same.extractions)
    for group in rotated.extractions:
        one_vote = 1.5 / (3 + len(group.probabilities) / 2)
        assert sorted(group.probabilities)[-3:] == pytest.approx([one_vote] * 3)
    # A model that answers about the sentence finds its label at another letter in each sample.
    about = scripted({"Message-Topic(e1,e2)": 0.9}, {"Message-Topic(e1,e2)": ("yes", 0.9)})
    decision = run(graph, chat_model=about, confidence="sampled", confidence_order="rotated")
    (group,) = [e for e in decision.extractions if "Message-Topic(e1,e2)" in e.labels]
    assert group.label == "Message-Topic(e1,e2)"
    assert group.confidence == pytest.approx(3.5 / (3 + len(group.probabilities) / 2))
    shown = [
        offered(messages, SCHEMA, INSTANCE)
        for messages in sentence_calls(about)
        if is_group_question(messages) and "Message-Topic(e1,e2)" in offered(messages, SCHEMA, INSTANCE)
    ]
    assert len(shown) == 3 and len({order.index("Message-Topic(e1,e2)") for order in shown}) == 3
    assert all(sorted(order) == sorted(group.labels) for order in shown)


def test_a_question_without_the_instruction_verbalized_toml_replaces_is_refused():
    with pytest.raises(ValueError, match=r"holds no 'Answer with the letter only\.'"):
        verbalized_messages([HumanMessage("Which? Say it.")], "extract", ("A", "B"))
