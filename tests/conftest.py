"""Shared fixtures: the SemEval inventory and test set, an instance maker, and a private LLM-call cache."""

from __future__ import annotations

import pytest

from mbre.schemas.instances import Instance, read_instances
from mbre.schemas.relations import RelationSchema
from tests.support.data import SEMEVAL


@pytest.fixture(scope="session")
def semeval_schema() -> RelationSchema:
    return RelationSchema.from_file(SEMEVAL / "relations.json")


@pytest.fixture(scope="session")
def semeval_test() -> list[Instance]:
    return read_instances(SEMEVAL / "test.jsonl")


@pytest.fixture
def make_instance():
    def make(text: str, head: str, tail: str, id: str = "s1", relation: str | None = None) -> Instance:
        h, t = text.index(head), text.index(tail)
        return Instance(
            id=id,
            text=text,
            relation=relation,
            head={"name": head, "start": h, "end": h + len(head)},
            tail={"name": tail, "start": t, "end": t + len(tail)},
        )

    return make


@pytest.fixture(autouse=True)
def private_llm_cache(tmp_path_factory, monkeypatch):
    """Commands under test keep their LLM-call cache to themselves, never the user's shared one."""
    monkeypatch.setenv("MBRE_CACHE_PATH", str(tmp_path_factory.mktemp("llm-cache") / "cache.sqlite"))
