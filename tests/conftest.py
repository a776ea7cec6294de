"""Shared fixtures: the SemEval inventory from ../shared (tests may read it), and a synthetic schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from mbre.schemas import Instance, Provenance, RelationSchema, RelationType, read_instances

SEMEVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "semeval2010_task8"

#: Provenance for samples built by hand in tests.
PROVENANCE = Provenance(
    model="m",
    strategy="mbre",
    decision_policy="best",
    epsilon=0.1,
    prompt_hash="p",
    schema_hash="s",
    grouping_hash="g",
    mbre_version="0",
)


@pytest.fixture(scope="session")
def semeval_schema() -> RelationSchema:
    return RelationSchema.from_file(SEMEVAL / "relations.json")


@pytest.fixture(scope="session")
def semeval_test() -> list[Instance]:
    return read_instances(SEMEVAL / "test.jsonl")


def synthetic_schema(n_positive: int = 13) -> RelationSchema:
    """Relations whose descriptions share words in a known pattern, plus a no-relation label."""
    topics = [
        "river",
        "city",
        "company",
        "person",
        "book",
        "song",
        "planet",
        "school",
        "team",
        "disease",
        "drug",
        "law",
        "ship",
        "bridge",
        "language",
        "painting",
        "mountain",
    ]
    relations = [
        RelationType(
            label=f"rel_{i}", description=f"The head is a {topics[i]} linked to the tail {topics[i + 1]}."
        )
        for i in range(n_positive)
    ]
    relations.append(RelationType(label="no_relation", description="Nothing links the head and the tail."))
    return RelationSchema.build(relations)


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
