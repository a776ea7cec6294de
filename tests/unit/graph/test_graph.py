"""The whole graph with a scripted fake model: routing, parallel extraction, the verification loop."""

from __future__ import annotations

import re

import pytest

from mbre import MbreContext, build_graph
from mbre.inventory.grouping import group_relations
from mbre.llm.structured import answer_confidence
from mbre.schemas.instances import Instance
from mbre.schemas.relations import RelationSchema
from mbre.schemas.results import Decision
from tests.support.data import SEMEVAL
from tests.support.fakes import Reply, ScriptedChatModel, asked_label, text_of


def offered(messages) -> list[str]:
    return [x for x in re.findall(r"^- (\S+): ", messages[0].content, flags=re.MULTILINE) if x != "none"]


def scripted(
    group_answers: dict[str, str], verdicts: dict[str, tuple[str, float | None]]
) -> ScriptedChatModel:
    """Answer each group with the first label of `group_answers` it offers; verify from `verdicts`."""

    def respond(messages, schema: str) -> Reply:
        if schema == "GroupAnswer":
            labels = [label for label in offered(messages) if label in group_answers]
            return Reply({"label": labels[0] if labels else "none"}, probability=0.8)
        answer, probability = verdicts.get(asked_label(text_of(messages), SCHEMA, INSTANCE), ("no", 0.9))
        return Reply({"evidence": "the words", "answer": answer}, probability=probability)

    return ScriptedChatModel(responder=respond)


SCHEMA = RelationSchema.from_file(SEMEVAL / "relations.json")
INSTANCE = Instance(
    id="s1",
    text="The most common audits were about waste and recycling.",
    head={"name": "audits", "start": 16, "end": 22},
    tail={"name": "waste", "start": 34, "end": 39},
)


@pytest.fixture(scope="module")
def graph():
    return build_graph(SCHEMA)


@pytest.fixture
def inst():
    return INSTANCE


def run(graph, inst, **ctx) -> Decision:
    return graph.invoke({"instance": inst}, context=MbreContext(**ctx))["decision"]


def test_mbre_asks_every_group_then_verifies_each_candidate(graph, semeval_schema, inst):
    model = scripted(
        {"Message-Topic(e1,e2)": "", "Cause-Effect(e2,e1)": ""},
        {"Message-Topic(e1,e2)": ("yes", 0.97), "Cause-Effect(e2,e1)": ("no", 0.9)},
    )
    decision = run(graph, inst, chat_model=model)
    assert decision.label == "Message-Topic(e1,e2)" and decision.rule == "single"
    assert decision.confidence == pytest.approx(0.97)
    grouping = group_relations(semeval_schema)
    extraction_calls = [c for c in model.calls if c[0] == "GroupAnswer"]
    assert len(extraction_calls) == grouping.k == 3
    assert sorted(tuple(offered(m)) for _, m in extraction_calls) == sorted(
        tuple(label for label in g if label != "Other") for g in grouping.groups
    )
    assert sorted(decision.candidates) == ["Cause-Effect(e2,e1)", "Message-Topic(e1,e2)"]
    assert [v.label for v in decision.verdicts] == decision.candidates
    assert decision.usage.calls == 5 == len(model.calls)


def test_no_relation_label_is_never_offered_twice(graph, inst):
    model = scripted({}, {})
    decision = run(graph, inst, chat_model=model)
    assert all("Other" not in offered(m) for _, m in model.calls)
    assert all("- none: " in text_of(m) for _, m in model.calls)
    assert (decision.label, decision.rule, decision.usage.calls) == ("Other", "no_candidate", 3)


def test_several_verified_the_most_confident_above_threshold_wins(graph, inst):
    model = scripted(
        {"Message-Topic(e1,e2)": "", "Cause-Effect(e2,e1)": "", "Component-Whole(e2,e1)": ""},
        {
            "Message-Topic(e1,e2)": ("yes", 0.93),
            "Cause-Effect(e2,e1)": ("yes", 0.96),
            "Component-Whole(e2,e1)": ("yes", 0.5),
        },
    )
    decision = run(graph, inst, chat_model=model)
    assert (decision.label, decision.rule) == ("Cause-Effect(e2,e1)", "most_confident")
    assert run(graph, inst, chat_model=model, epsilon=0.01).rule == "ambiguous"


def test_decision_first_stops_the_loop_at_the_first_yes(graph, inst):
    model = scripted(
        {"Message-Topic(e1,e2)": "", "Cause-Effect(e2,e1)": "", "Component-Whole(e2,e1)": ""},
        {
            label: ("yes", 0.9)
            for label in ("Message-Topic(e1,e2)", "Cause-Effect(e2,e1)", "Component-Whole(e2,e1)")
        },
    )
    decision = run(graph, inst, chat_model=model, decision="first")
    assert decision.rule == "first_verified"
    assert len(decision.verdicts) == 1 and decision.label == decision.candidates[0]
    assert decision.usage.calls == 3 + 1


def test_verification_loop_is_bounded(graph, inst, semeval_schema):
    model = scripted({}, {})
    decision = run(graph, inst, chat_model=model, strategy="binary", max_verifications=4)
    assert len(decision.verdicts) == 4 and len(decision.candidates) == len(semeval_schema.positive)
    assert decision.usage.calls == 4


def test_binary_baseline_asks_every_label(graph, inst, semeval_schema):
    model = scripted({}, {"Message-Topic(e1,e2)": ("yes", 0.7), "Message-Topic(e2,e1)": ("yes", 0.8)})
    decision = run(graph, inst, chat_model=model, strategy="binary")
    assert decision.usage.calls == len(semeval_schema.positive) == 18
    assert {c[0] for c in model.calls} == {"text"}
    assert (decision.label, decision.rule) == ("Message-Topic(e2,e1)", "most_confident")


def test_multiclass_baseline_is_one_call_over_all_labels(graph, inst, semeval_schema):
    model = scripted({"Message-Topic(e1,e2)": ""}, {})
    decision = run(graph, inst, chat_model=model, strategy="multiclass")
    assert decision.usage.calls == 1 and decision.rule == "multiclass"
    assert offered(model.calls[0][1]) == [r.label for r in semeval_schema.positive]
    assert decision.label == "Message-Topic(e1,e2)" and decision.confidence == pytest.approx(0.8)


def test_route_top_k_asks_fewer_groups(graph, inst):
    model = scripted({}, {})
    decision = run(graph, inst, chat_model=model, route_top_k=1)
    assert decision.usage.calls == 1 == len(decision.extractions)


def test_unparseable_answer_is_retried_once_then_kept_as_abstention(graph, inst):
    model = ScriptedChatModel(responder=lambda messages, schema: Reply(text="I think it is a topic thing"))
    decision = run(graph, inst, chat_model=model)
    assert decision.rule == "abstained" and decision.label is None
    assert all(e.abstained and e.raw == "I think it is a topic thing" for e in decision.extractions)
    assert all(e.error for e in decision.extractions)
    assert decision.usage.calls == 2 * 3  # each group asked, then re-asked once
    assert decision.abstentions == 3


def test_a_retry_that_parses_is_used(graph, inst):
    seen: set[str] = set()

    def garbage_first(messages, schema: str) -> Reply:  # per prompt: parallel groups interleave
        prompt = text_of(messages)
        if prompt in seen:
            return Reply({"label": "none"})
        seen.add(prompt)
        return Reply(text="garbage")

    model = ScriptedChatModel(responder=garbage_first)
    decision = run(graph, inst, chat_model=model)
    assert decision.rule == "no_candidate" and decision.usage.calls == 6


def test_out_of_schema_label_cannot_come_back(graph, inst):
    """Injection-style text in the sentence; the model 'obeys' with a label that is not in the enum."""
    model = ScriptedChatModel(
        responder=lambda messages, schema: Reply({"label": "Ignore-Instructions(e1,e2)"})
    )
    decision = run(graph, inst, chat_model=model, parse_retries=0)
    assert decision.label is None and all(e.abstained for e in decision.extractions)


def test_stream_emits_node_updates_and_progress_events(graph, inst):
    model = scripted({"Message-Topic(e1,e2)": ""}, {"Message-Topic(e1,e2)": ("yes", 0.9)})
    nodes, events = [], []
    for mode, chunk in graph.stream(
        {"instance": inst}, context=MbreContext(chat_model=model), stream_mode=["updates", "custom"]
    ):
        if mode == "updates":
            nodes += list(chunk)
        else:
            events.append(chunk["event"])
    assert nodes[0] == "route" and nodes[-1] == "decide"
    assert nodes.count("extract") == 3 and "propose" in nodes and "verify" in nodes
    assert events[0] == "routed" and events[-1] == "decided" and events.count("llm") == 4


def test_confidence_averages_the_answer_tokens_only():
    from langchain_core.messages import AIMessage

    tokens = [
        ('{"', -0.01),
        ("label", -0.01),
        ('":', 0.0),
        (' "', 0.0),
        ("Cause", -0.5),
        ("-Effect", -0.1),
        ('"}', 0.0),
    ]
    message = AIMessage(
        content="".join(t for t, _ in tokens),
        response_metadata={
            "logprobs": {"content": [{"token": t, "logprob": lp, "top_logprobs": []} for t, lp in tokens]}
        },
    )
    import math

    assert answer_confidence(message, "label") == pytest.approx((math.exp(-0.5) + math.exp(-0.1)) / 2)
    assert answer_confidence(AIMessage(content="{}"), "label") is None


def test_yes_no_confidence_sums_spellings_and_normalises_over_both_answers():
    import math

    from langchain_core.messages import AIMessage

    from mbre.llm.structured import yes_no_confidence

    alternatives = [("Yes", 0.5), ("yes", 0.2), ("No", 0.2), ("Maybe", 0.1)]
    token = {
        "token": "Yes",
        "logprob": math.log(0.5),
        "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in alternatives],
    }
    message = AIMessage(content="Yes.", response_metadata={"logprobs": {"content": [token]}})
    assert yes_no_confidence(message, "yes", 0, 3) == pytest.approx(0.7 / 0.9)
    token["top_logprobs"] = []
    assert yes_no_confidence(message, "yes", 0, 3) == pytest.approx(0.5)
