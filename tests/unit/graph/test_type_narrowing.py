"""Type-narrowed questions: a typed pair is offered only the relations its entity types fit, the decision
records which, and untyped pairs and inventories are asked exactly as before."""

from __future__ import annotations

from mbre import MbreContext, build_graph
from mbre.schemas.instances import Instance
from mbre.schemas.relations import RelationSchema, RelationType
from tests.support.fakes import (
    Reply,
    ScriptedChatModel,
    content_free,
    even,
    is_group_question,
    offered,
    options,
    yes_no,
)

PEOPLE, ORGS, PLACES = ("person",), ("org",), ("place",)
SCHEMA = RelationSchema.build(
    [
        RelationType(
            label="works_for", description="The head works for the tail.", head_types=PEOPLE, tail_types=ORGS
        ),
        RelationType(
            label="founded", description="The head founded the tail.", head_types=PEOPLE, tail_types=ORGS
        ),
        RelationType(
            label="born_in",
            description="The head was born in the tail.",
            head_types=PEOPLE,
            tail_types=PLACES,
        ),
        RelationType(
            label="based_in",
            description="The head has its seat in the tail.",
            head_types=ORGS,
            tail_types=PLACES,
        ),
        RelationType(label="owns", description="The head owns the tail.", head_types=ORGS, tail_types=ORGS),
        RelationType(
            label="knows", description="The head knows the tail.", head_types=PEOPLE, tail_types=PEOPLE
        ),
        RelationType(label="mentions", description="The head mentions the tail."),
        RelationType(label="NA", description="No relation holds."),
    ]
)


def instance(head_type: str | None, tail_type: str | None) -> Instance:
    return Instance(
        id="s1",
        text="Ada joined Acme in 1990.",
        head={"name": "Ada", "start": 0, "end": 3, "type": head_type},
        tail={"name": "Acme", "start": 11, "end": 15, "type": tail_type},
    )


def asking(pair: Instance) -> ScriptedChatModel:
    """Every group answers "none" but for works_for; every verification says no."""

    def respond(messages) -> Reply:
        if content_free(messages):
            return even(messages)
        if is_group_question(messages):
            labels = offered(messages, SCHEMA, pair)
            letters = [letter for letter, _ in options(messages)]
            chosen = letters[labels.index("works_for")] if "works_for" in labels else letters[-1]
            return Reply(
                chosen, {letter: 0.9 if letter == chosen else 0.1 / (len(letters) - 1) for letter in letters}
            )
        return yes_no("no", 0.9)

    return ScriptedChatModel(responder=respond)


def group_offers(model: ScriptedChatModel, pair: Instance) -> list[list[str]]:
    return [offered(m, SCHEMA, pair) for m in model.calls if is_group_question(m) and not content_free(m)]


def test_a_typed_pair_is_offered_only_the_relations_its_types_fit():
    graph, pair = build_graph(SCHEMA), instance("person", "org")
    model = asking(pair)
    decision = graph.invoke({"instance": pair}, context=MbreContext(chat_model=model, narrow_by_type=True))[
        "decision"
    ]
    asked = sorted(label for offers in group_offers(model, pair) for label in offers)
    assert asked == ["founded", "mentions", "works_for"]
    assert decision.offered == ["works_for", "founded", "mentions"]
    assert decision.model_dump()["offered"] == decision.offered
    assert all(set(e.labels) <= set(decision.offered) for e in decision.extractions)


def test_without_narrowing_or_types_every_relation_is_offered_and_nothing_recorded():
    graph = build_graph(SCHEMA)
    for pair, narrow in ((instance("person", "org"), False), (instance(None, None), True)):
        model = asking(pair)
        decision = graph.invoke(
            {"instance": pair}, context=MbreContext(chat_model=model, narrow_by_type=narrow)
        )["decision"]
        asked = sorted(label for offers in group_offers(model, pair) for label in offers)
        assert asked == sorted(label for label in SCHEMA.labels if label != "NA")
        assert decision.offered is None and "offered" not in decision.model_dump()


def test_a_pair_whose_types_fit_nothing_but_an_untyped_relation_gets_only_that():
    graph, pair = build_graph(SCHEMA), instance("place", "place")
    model = asking(pair)
    decision = graph.invoke({"instance": pair}, context=MbreContext(chat_model=model, narrow_by_type=True))[
        "decision"
    ]
    assert decision.offered == ["mentions"]
    assert sorted(label for offers in group_offers(model, pair) for label in offers) == ["mentions"]


def test_a_pair_whose_types_fit_no_relation_is_no_relation_without_a_call():
    typed_only = RelationSchema.build([r for r in SCHEMA.relations if r.label != "mentions"])
    graph, pair = build_graph(typed_only), instance("place", "place")
    for strategy in ("mbre", "multiclass", "binary"):
        model = asking(pair)
        context = MbreContext(chat_model=model, narrow_by_type=True, strategy=strategy)
        decision = graph.invoke({"instance": pair}, context=context)["decision"]
        assert [m for m in model.calls if not content_free(m)] == []
        assert (decision.label, decision.rule, decision.offered) == ("NA", "no_candidate", [])


def test_binary_verifies_only_the_offered_relations():
    graph, pair = build_graph(SCHEMA), instance("org", "place")
    model = asking(pair)
    decision = graph.invoke(
        {"instance": pair}, context=MbreContext(chat_model=model, narrow_by_type=True, strategy="binary")
    )["decision"]
    assert sorted(v.label for v in decision.verdicts) == ["based_in", "mentions"]
