"""The SQLite LLM-call cache, with real ChatOpenAI clients talking HTTP to the stub server on loopback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration

from mbre.errors import StorageError
from mbre.graph.context import MbreContext
from mbre.llm.cache import SqliteLLMCache
from mbre.llm.providers import chat_model, chat_model_for
from mbre.llm.settings import ModelSettings
from mbre.llm.structured import Answer, Choice, ask_choice
from mbre.run.config import load_context
from tests.support.openai_stub import StubServer, stub_server

MESSAGES = [SystemMessage("Pick the relation: A. cause, B. effect, C. none."), HumanMessage("Smoke came.")]


def answer(messages: list[dict[str, Any]], schema_name: str) -> str:
    return "A"


def ask(model: Any, max_tokens: int = 2) -> Answer[Choice]:
    return ask_choice(model, MESSAGES, ("A", "B", "C"), max_tokens=max_tokens)


def ask_yes_no(model: Any, retries: int = 1) -> Answer[Choice]:
    return ask_choice(model, MESSAGES, ("yes", "no"), max_tokens=2, retries=retries)


def settings(server: StubServer, path: Path, **overrides: Any) -> ModelSettings:
    return ModelSettings(
        model=overrides.pop("model", "openai:stub-model"),
        base_url=server.base_url,
        cache_path=str(path),
        **overrides,
    )


def test_a_repeated_call_is_answered_from_the_cache_with_logprobs_and_usage(tmp_path):
    with stub_server(answer) as server:
        model = chat_model(settings(server, tmp_path / "c.sqlite"))
        first = ask(model)
        again = ask(model)
        assert len(server.requests) == 1  # the second identical call never reached the server
        fresh, cached = model.invoke(MESSAGES), model.invoke(MESSAGES)
        assert len(server.requests) == 2

    assert again.parsed == first.parsed and again.raw == first.raw
    assert first.confidence is not None and again.confidence == first.confidence
    assert first.usage.cached_calls == 0 and first.usage.retries == 0
    assert again.usage.calls == 1 and again.usage.cached_calls == 1
    # Still counted as asked for, and counted again as cached (not billed).
    assert again.usage.prompt_tokens == first.usage.prompt_tokens == 50
    assert again.usage.cached_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    assert again.usage.billed_prompt_tokens == 0 and again.usage.billed_completion_tokens == 0

    assert "mbre_cache" not in fresh.response_metadata
    assert cached.response_metadata["mbre_cache"] == "hit"
    assert cached.response_metadata["logprobs"] == fresh.response_metadata["logprobs"]
    assert cached.usage_metadata["input_tokens"] == fresh.usage_metadata["input_tokens"] == 50
    assert cached.usage_metadata["output_tokens"] == fresh.usage_metadata["output_tokens"]
    assert model.cache.stats().hits == 2 and model.cache.stats().misses == 2


def test_call_parameters_model_temperature_and_endpoint_each_key_the_cache(tmp_path):
    path = tmp_path / "shared.sqlite"
    with stub_server(answer) as one, stub_server(answer) as two:
        variants = [
            (chat_model(settings(one, path)), 2),
            (chat_model(settings(one, path)), 3),  # another answer length: another call
            (chat_model(settings(one, path, model="openai:other-model")), 2),
            (chat_model(settings(one, path, temperature=0.5, sample_index=0)), 2),
            (chat_model(settings(two, path)), 2),  # same model name on another server
        ]
        for model, max_tokens in variants:
            ask(model, max_tokens)
        assert (len(one.requests), len(two.requests)) == (4, 1)  # each variant missed
        for model, max_tokens in variants:
            assert ask(model, max_tokens).usage.cached_calls == 1
        assert (len(one.requests), len(two.requests)) == (4, 1)  # and none overwrote another


def test_temperature_above_zero_bypasses_the_cache_unless_a_sample_index_is_set(tmp_path):
    path = tmp_path / "c.sqlite"
    with stub_server(answer) as server:
        sampled = chat_model(settings(server, path, temperature=0.7))
        assert sampled.cache is False  # False, not None: no global langchain cache either
        sampled.invoke(MESSAGES)
        sampled.invoke(MESSAGES)
        assert len(server.requests) == 2

        sample0 = chat_model(settings(server, path, temperature=0.7, sample_index=0))
        sample1 = chat_model(settings(server, path, temperature=0.7, sample_index=1))
        for model in (sample0, sample0, sample1, sample1):
            model.invoke(MESSAGES)
        assert len(server.requests) == 4  # one request per sample index

        off = chat_model(settings(server, path, cache=False))
        off.invoke(MESSAGES)
        off.invoke(MESSAGES)
        assert off.cache is False and len(server.requests) == 6


def test_a_reask_is_not_answered_by_the_cached_unparseable_answer(tmp_path):
    replies = iter(["Maybe", "Yes"])
    with stub_server(lambda messages, schema: next(replies)) as server:
        model = chat_model(settings(server, tmp_path / "c.sqlite"))
        first = ask_yes_no(model, retries=1)
        assert len(server.requests) == 2  # the re-ask went to the server, not to the cached "Maybe"
        again = ask_yes_no(model, retries=1)
        assert len(server.requests) == 2  # the next run replays both asks from the cache
    assert first.parsed is not None and first.parsed.index == 0 and first.usage.calls == 2
    assert again.parsed == first.parsed and again.usage.cached_calls == 2


def test_the_context_settings_reach_the_cache(tmp_path):
    with stub_server(answer) as server:
        on = MbreContext(model="openai:m", base_url=server.base_url, cache_path=str(tmp_path / "x.db"))
        off = MbreContext(model="openai:m", base_url=server.base_url, cache=False)
        cache = chat_model_for(on, "extraction").cache
        assert isinstance(cache, SqliteLLMCache) and cache.path == tmp_path / "x.db"
        assert chat_model_for(off, "verification").cache is False


def test_settings_from_mbre_toml_reach_the_chat_model(tmp_path, monkeypatch):
    """The new keys load like any other: cache, limits and retries all land on the built chat model."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("MBRE_CACHE_PATH")  # the environment would win over the file
    config = tmp_path / "mbre.toml"
    config.write_text(
        'model = "openai:m"\nbase_url = "http://10.9.9.9/v1"\n'
        f'cache_path = "{tmp_path / "c.sqlite"}"\nrequests_per_minute = 30\ntokens_per_minute = 9000\n'
        "max_retries = 2\nretry_base_seconds = 0.25\ntemperature = 0.7\nsample_index = 3\n"
    )
    model = chat_model_for(load_context(config), "extraction")
    assert isinstance(model.cache, SqliteLLMCache) and model.cache.path == tmp_path / "c.sqlite"
    assert model.rate_limiter is not None and model.rate_limiter.acquire(blocking=False)
    assert (model.retrier.max_retries, model.retrier.base_seconds, model.max_retries) == (2, 0.25, 0)


def _generation(text: str) -> list[ChatGeneration]:
    return [ChatGeneration(message=AIMessage(content=text, usage_metadata=_usage(text)))]


def _usage(text: str) -> dict[str, int]:
    return {"input_tokens": 1, "output_tokens": len(text), "total_tokens": 1 + len(text)}


def test_hits_are_marked_on_copies_and_counted_per_cache(tmp_path):
    cache = SqliteLLMCache(tmp_path / "c.sqlite", namespace="n")
    assert cache.lookup("p", "m") is None
    cache.update("p", "m", _generation("stored"))
    first, second = cache.lookup("p", "m"), cache.lookup("p", "m")
    assert first[0].message.response_metadata == {"mbre_cache": "hit"}
    assert first[0].message is not second[0].message
    with sqlite3.connect(tmp_path / "c.sqlite") as db:
        (stored,) = db.execute("SELECT generations FROM llm_cache").fetchone()
    assert "mbre_cache" not in stored  # the mark lives on what lookup returned only
    assert SqliteLLMCache(tmp_path / "c.sqlite", namespace="other").lookup("p", "m") is None
    assert (cache.stats().hits, cache.stats().misses) == (2, 1)


def test_concurrent_writers_in_threads_lose_nothing(tmp_path):
    cache = SqliteLLMCache(tmp_path / "c.sqlite", namespace="n")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(40):
                cache.update(f"p{worker}-{i}", "m", _generation(f"{worker}-{i}"))
                cache.update("shared", "m", _generation(f"{worker}-{i}"))  # INSERT OR REPLACE races
                assert cache.lookup(f"p{worker}-{i}", "m")[0].text == f"{worker}-{i}"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(cache.lookup(f"p{w}-{i}", "m")[0].text == f"{w}-{i}" for w in range(8) for i in range(40))
    assert cache.lookup("shared", "m") is not None
    with sqlite3.connect(tmp_path / "c.sqlite") as db:
        assert db.execute("SELECT count(*) FROM llm_cache").fetchone() == (8 * 40 + 1,)


WRITER = """
import sys
import pytest
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration
from mbre.llm.cache import SqliteLLMCache

cache = SqliteLLMCache(sys.argv[1], namespace="n")
for i in range(150):
    message = AIMessage(content=f"{sys.argv[2]}-{i}")
    cache.update(f"{sys.argv[2]}-{i}", "m", [ChatGeneration(message=message)])
    cache.update("shared", "m", [ChatGeneration(message=message)])
"""


def test_two_processes_write_one_file_at_once(tmp_path):
    path = tmp_path / "c.sqlite"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), name], stderr=subprocess.PIPE, text=True)
        for name in ("a", "b")
    ]
    for writer in writers:
        assert writer.wait(120) == 0, writer.stderr.read()
    cache = SqliteLLMCache(path, namespace="n")
    assert all(cache.lookup(f"{n}-{i}", "m")[0].text == f"{n}-{i}" for n in "ab" for i in range(150))
    assert cache.lookup("shared", "m")[0].text in ("a-149", "b-149")


KEYS = """
import json, sys
from langchain_core.messages import HumanMessage
from mbre.llm.settings import ModelSettings
from mbre.llm.providers import chat_model
from mbre.llm.structured import ask_choice

model = chat_model(ModelSettings(model="openai:stub-model", base_url=sys.argv[1], cache_path=sys.argv[2]))
seen = []
lookup = model.cache.lookup

def recording(prompt, llm_string):
    seen.append({"llm_string": llm_string, "key": model.cache.key(prompt, llm_string)})
    return lookup(prompt, llm_string)

model.cache.lookup = recording
messages = [HumanMessage("Smoke came from the fire.")]
letter = ask_choice(model, messages, ("A", "B", "C"), max_tokens=2)
word = ask_choice(model, messages, ("A", "B"), max_tokens=3)
print(json.dumps({"seen": seen, "cached": letter.usage.cached_calls + word.usage.cached_calls}))
"""


def test_keys_are_the_same_in_every_process(tmp_path):
    path = tmp_path / "c.sqlite"
    runs = []
    with stub_server(answer) as server:
        for seed in ("1", "2"):  # another hash seed: no set or dict order may leak into a key
            env = {**os.environ, "PYTHONHASHSEED": seed}
            done = subprocess.run(
                [sys.executable, "-c", KEYS, server.base_url, str(path)],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            runs.append(json.loads(done.stdout))
        assert len(server.requests) == 2  # the second process was answered from the first one's entries
    first, second = runs
    assert first["seen"] == second["seen"] and (first["cached"], second["cached"]) == (0, 2)
    letter, word = (seen["llm_string"] for seen in first["seen"])
    assert '"max_tokens": 2' in letter and '"max_tokens": 3' in word  # the call's own parameters
    assert all(" at 0x" not in seen["llm_string"] for seen in first["seen"])  # no object reprs


def test_the_api_key_never_reaches_the_cache(tmp_path, monkeypatch):
    secret = "sk-cache-test-do-not-store-7731"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    seen: list[str] = []
    with stub_server(answer) as server:
        model = chat_model(settings(server, tmp_path / "c.sqlite"))
        lookup = model.cache.lookup
        model.cache.lookup = lambda prompt, llm_string: seen.append(llm_string) or lookup(prompt, llm_string)
        ask(model)
        ask(model, max_tokens=3)
        assert all(r["headers"]["authorization"] == f"Bearer {secret}" for r in server.requests)
    files = list(tmp_path.iterdir())
    assert any(f.name == "c.sqlite" for f in files) and len(seen) == 2
    assert not any(secret.encode() in f.read_bytes() for f in files)  # the db, its WAL and shm
    assert not any(secret in s for s in seen)


def damaged(path: Path) -> Path:
    """A cache with some answers whose pages past the header were overwritten, as a failing disk would."""
    cache = SqliteLLMCache(path)
    for n in range(200):
        cache.update(f"prompt {n}", "llm", [ChatGeneration(message=AIMessage(content="x" * 500))])
    cache._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[4096 * 2 : 4096 * 6] = b"\xa5" * 4096 * 4
    path.write_bytes(bytes(data))
    return path


def test_a_damaged_cache_file_is_named_once_with_what_to_do(tmp_path):
    not_a_database = tmp_path / "not-a-db.sqlite"
    not_a_database.write_bytes(b"this is no SQLite file, not at all" * 100)
    for path, reason in [
        (not_a_database, "file is not a database"),
        (damaged(tmp_path / "damaged.sqlite"), "database disk image is malformed"),
    ]:
        try:
            SqliteLLMCache(path).check()
        except StorageError as error:
            assert str(error) == (
                f"the LLM-call cache {path} is damaged ({reason}): move it aside (mv {path} {path}.damaged) "
                "to start a new one, or run with --no-cache"
            )
        else:
            raise AssertionError(f"{path} passed the check")


def test_a_cache_file_that_cannot_be_opened_for_writing_says_so(tmp_path):
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(StorageError) as info:
        SqliteLLMCache(tmp_path / "dir.sqlite").check()
    assert str(info.value) == (
        f"cannot write the LLM-call cache {tmp_path / 'dir.sqlite'} (unable to open database file): run with "
        "--no-cache, or set cache_path to a file that can be written"
    )
    SqliteLLMCache(tmp_path / "new" / "c.sqlite").check()  # a new cache file is fine


def test_an_undecodable_entry_is_a_miss_asked_again_and_rewritten_with_one_warning(tmp_path, caplog):
    path = tmp_path / "c.sqlite"
    with stub_server(answer) as server:
        model = chat_model(settings(server, path))
        ask(model)
        ask(model, max_tokens=3)  # a second entry
        with sqlite3.connect(path) as db:  # a sound database whose rows something else wrote
            db.execute("UPDATE llm_cache SET generations = '{not json'")
        with caplog.at_level("WARNING", logger="mbre"):
            again, other = ask(model), ask(model, max_tokens=3)
        assert len(server.requests) == 4  # both asked again, not failed
        assert again.parsed is not None and again.usage.cached_calls == 0 and other.parsed is not None
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len(warnings) == 1 and warnings[0].startswith(f"the LLM-call cache {path} holds an entry")
        assert ask(model).usage.cached_calls == 1 and len(server.requests) == 4  # rewritten, whole again
