from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from mbre.errors import InputError, SettingError
from mbre.inventory.grouping import Grouping, default_k, description_similarity, group_relations
from mbre.schemas.relations import RelationSchema
from tests.support.data import synthetic_schema


def schemas(semeval: RelationSchema) -> list[RelationSchema]:
    return [semeval, synthetic_schema(13), synthetic_schema(16), synthetic_schema(5)]


@pytest.mark.parametrize("refine", [True, False])
def test_grouping_is_a_balanced_partition(semeval_schema, refine):
    for schema in schemas(semeval_schema):
        grouping = group_relations(schema, refine=refine)
        n, k = len(schema.labels), default_k(len(schema.labels))
        labels = [label for group in grouping.groups for label in group]
        assert sorted(labels) == sorted(schema.labels)  # every label exactly once
        assert grouping.k == k == max(1, n // 6)
        sizes = {len(group) for group in grouping.groups}
        assert sizes <= {n // k, -(-n // k)}, sizes


def test_semeval_has_three_groups_of_seven_six_six(semeval_schema):
    grouping = group_relations(semeval_schema)
    assert sorted(len(g) for g in grouping.groups) == [6, 6, 7]


@pytest.mark.parametrize("refine", [True, False])
def test_most_dissimilar_pair_anchors_two_groups(semeval_schema, refine):
    for schema in schemas(semeval_schema)[:3]:
        similarity = description_similarity(schema)
        grouping = group_relations(schema, refine=refine)
        a, b = grouping.anchors
        ia, ib = schema.labels.index(a), schema.labels.index(b)
        off_diagonal = similarity + np.eye(len(schema.labels)) * 10
        assert similarity[ia, ib] == pytest.approx(off_diagonal.min())
        assert grouping.group_of(a) == 0 and grouping.group_of(b) == 1


def test_deterministic(semeval_schema):
    first, second = group_relations(semeval_schema), group_relations(semeval_schema)
    assert first == second and first.sha256 == second.sha256
    shuffled_k = group_relations(semeval_schema, k=4)
    assert shuffled_k.sha256 != first.sha256


def test_refinement_keeps_direction_twins_apart_on_semeval(semeval_schema):
    """The paper's greedy order leaves both directions of a relation in one group; the swap pass fixes it."""

    def twins_together(grouping: Grouping) -> int:
        names = [[label.split("(")[0] for label in group] for group in grouping.groups]
        return sum(len(group) - len(set(group)) for group in names)

    assert twins_together(group_relations(semeval_schema, refine=False)) > 0
    assert twins_together(group_relations(semeval_schema, refine=True)) == 0


def test_refinement_never_raises_within_group_similarity(semeval_schema):
    similarity = description_similarity(semeval_schema)
    index = {label: i for i, label in enumerate(semeval_schema.labels)}

    def within(grouping: Grouping) -> float:
        return sum(
            similarity[index[a], index[b]] for g in grouping.groups for a, b in itertools.combinations(g, 2)
        )

    assert within(group_relations(semeval_schema)) < within(group_relations(semeval_schema, refine=False))


def test_k_is_validated(semeval_schema):
    with pytest.raises(SettingError, match="between 1 and 19"):
        group_relations(semeval_schema, k=20)
    assert group_relations(semeval_schema, k=1).groups == (tuple(semeval_schema.labels),)


def test_artifact_round_trip_and_tamper_detection(semeval_schema, tmp_path):
    grouping = group_relations(semeval_schema)
    path = tmp_path / "grouping.json"
    grouping.save(path)
    assert json.loads(path.read_text())["sha256"] == grouping.sha256
    assert Grouping.load(path, semeval_schema) == grouping

    document = json.loads(path.read_text())
    document["groups"][0], document["groups"][1] = document["groups"][1], document["groups"][0]
    path.write_text(json.dumps(document))
    with pytest.raises(InputError, match="recorded hash"):
        Grouping.load(path, semeval_schema)

    grouping.save(path)
    with pytest.raises(InputError, match="another relation schema"):
        Grouping.load(path, synthetic_schema(13))


def test_an_artifact_saved_with_the_former_name_seeds_still_loads(semeval_schema, tmp_path):
    grouping = group_relations(semeval_schema)
    path = tmp_path / "grouping.json"
    grouping.save(path)
    document = json.loads(path.read_text())
    assert document["anchors"] == list(grouping.anchors) and "seeds" not in document
    document["seeds"] = document.pop("anchors")
    path.write_text(json.dumps(document))
    assert Grouping.load(path, semeval_schema) == grouping
