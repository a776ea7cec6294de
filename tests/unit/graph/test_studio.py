"""The factory `langgraph dev` loads: the schema comes from MBRE_STUDIO_RELATIONS, the context schema is
JSON, and a sentence sent as JSON (as a server sends it) is checked and labelled like a read one."""

from __future__ import annotations

import json

import pytest

from mbre.errors import InputError, SettingError
from mbre.graph.context import MbreContext
from mbre.graph.studio import RELATIONS_VARIABLE, studio_graph
from mbre.schemas.instances import read_instances
from mbre.schemas.relations import RelationSchema
from tests.support.data import EXAMPLES
from tests.support.fakes import gold_model


def test_the_factory_needs_a_schema(monkeypatch):
    monkeypatch.delenv(RELATIONS_VARIABLE, raising=False)
    with pytest.raises(SettingError, match=RELATIONS_VARIABLE):
        studio_graph()


def test_the_factory_builds_once_per_schema_and_its_context_schema_is_json(monkeypatch):
    monkeypatch.setenv(RELATIONS_VARIABLE, str(EXAMPLES / "relations.json"))
    graph = studio_graph()
    assert studio_graph() is graph
    properties = graph.get_context_jsonschema()["properties"]
    assert properties["strategy"]["default"] == "mbre" and "chat_model" not in properties


def test_a_json_instance_is_checked_and_labelled(monkeypatch):
    monkeypatch.setenv(RELATIONS_VARIABLE, str(EXAMPLES / "relations.json"))
    sentences = read_instances(EXAMPLES / "sentences.jsonl")
    model = gold_model(RelationSchema.from_file(EXAMPLES / "relations.json"), sentences)
    context = MbreContext(chat_model=model)
    record = json.loads(sentences[1].model_dump_json())
    decision = studio_graph().invoke({"instance": record}, context=context)["decision"]
    assert decision.label == sentences[1].relation
    record["head"]["end"] += 1
    with pytest.raises(InputError, match="input instance:1: field 'head'"):
        studio_graph().invoke({"instance": record}, context=context)
