"""Shared fixtures: the SemEval inventory and test set, an instance maker, a private LLM-call cache, an
offline tiktoken, and a private cache directory (servers, their registry and logs) linking to the user's
embedded models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mbre.llm import tokens
from mbre.schemas.instances import Instance, read_instances
from mbre.schemas.relations import RelationSchema
from tests.support.data import SEMEVAL
from tests.support.models import assembled_models, private_cache


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


@pytest.fixture(autouse=True)
def offline_tiktoken(monkeypatch):
    """No test downloads tiktoken's encodings (their first use on a machine fetches them): OpenAI's
    counter fails to load as it does offline, unless a test gives it an encoding. Counters start anew."""

    def offline(model: str) -> None:
        raise tokens.TokenizerError(f"tiktoken cannot load the encoding of {model}: the tests are offline")

    monkeypatch.setattr(tokens, "load_encoding", offline)
    tokens._counter.cache_clear()


@pytest.fixture(scope="session")
def model_files() -> list[Path]:
    """The embedded models' weights in the user's cache directory (assembled there once per machine)."""
    return assembled_models()


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir(tmp_path_factory, model_files) -> Iterator[Path]:
    """The whole session uses a cache directory of its own: its servers never join the user's, and a
    server it starts stops with it."""
    with pytest.MonkeyPatch.context() as patch:
        path = private_cache(tmp_path_factory.mktemp("mbre-cache"), model_files)
        patch.setenv("MBRE_CACHE_DIR", str(path))
        yield path
