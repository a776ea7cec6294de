from __future__ import annotations

from mbre.inventory.grouping import group_relations
from mbre.inventory.retrieval import RelationIndex


def test_rank_puts_the_relation_sharing_the_sentence_words_first(semeval_schema, make_instance):
    index = RelationIndex(semeval_schema, group_relations(semeval_schema))
    inst = make_instance("The engine is a component of the car, a structured whole.", "engine", "car")
    ranking = index.rank(inst)
    assert ranking[0][0].startswith("Component-Whole")
    assert [score for _, score in ranking] == sorted((score for _, score in ranking), reverse=True)
    assert {label for label, _ in ranking} == {r.label for r in semeval_schema.positive}


def test_route_all_asks_every_group_nearest_first(semeval_schema, make_instance):
    grouping = group_relations(semeval_schema)
    index = RelationIndex(semeval_schema, grouping)
    inst = make_instance("The engine is a component of the car, a structured whole.", "engine", "car")
    order = index.route(index.rank(inst))
    assert sorted(order) == list(range(grouping.k))
    assert order[0] == grouping.group_of(index.rank(inst)[0][0])


def test_route_top_k_asks_only_the_groups_of_the_nearest_relations(semeval_schema, make_instance):
    grouping = group_relations(semeval_schema)
    index = RelationIndex(semeval_schema, grouping)
    inst = make_instance("The letter conveys information about the war, its topic.", "letter", "war")
    nearest = [label for label, _ in index.rank(inst)[:2]]
    assert set(index.route(index.rank(inst), top_k=2)) == {grouping.group_of(label) for label in nearest}
    assert len(index.route(index.rank(inst), top_k=1)) == 1


def test_ties_keep_schema_order(semeval_schema, make_instance):
    index = RelationIndex(semeval_schema, group_relations(semeval_schema))
    inst = make_instance("Zzz qqq xxx.", "Zzz", "xxx")  # no shared vocabulary: all scores 0
    assert [label for label, _ in index.rank(inst)] == [r.label for r in semeval_schema.positive]
