"""A content-addressed LLM-call cache in SQLite, shared by runs, threads and processes.

It is attached to the chat model (`ChatOpenAI(cache=...)`), so langchain-core consults it inside
`BaseChatModel._generate_with_cache` (langchain-core 1.7), with the call's own parameters (`max_tokens`)
as part of the key, and *before* the model's `rate_limiter` is acquired, which happens
only on a miss ("Apply the rate limiter after checking the cache"). A hit therefore costs no request and
no rate budget. (`.stream()` is different: it acquires the limiter and never reads the cache; mbre only
invokes.) langchain-core zeroes `usage_metadata["total_cost"]` on a hit and keeps the token counts; this
cache also marks each hit with `response_metadata["mbre_cache"] == "hit"`, so callers can tell.

A key is the sha256 of the namespace (provider, endpoint, sample index: see `mbre.llm.providers`), the
re-ask number, the serialised prompt and the `llm_string`. Values are the messages in langchain's stable
`message_to_dict` form, so logprobs with their alternatives (in `response_metadata`) and `usage_metadata`
survive. Not `langchain_core.load`: its `loads` is a beta API that warns and needs an allowlist.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.caches import BaseCache
from langchain_core.messages import AIMessage, message_to_dict, messages_from_dict
from langchain_core.outputs import ChatGeneration, Generation

from mbre.errors import StorageError
from mbre.llm.local.paths import cache_dir

#: What `response_metadata["mbre_cache"]` holds on a message served from the cache.
HIT = "hit"
#: How long a writer waits for another connection's lock before giving up (seconds).
BUSY_SECONDS = 30.0

_reask: ContextVar[int] = ContextVar("mbre_cache_reask", default=0)
_log = logging.getLogger(__name__)


def default_cache_path() -> Path:
    """`llm-cache.sqlite` in mbre's cache directory ($MBRE_CACHE_DIR, $XDG_CACHE_HOME/mbre, ~/.cache/mbre)."""
    return cache_dir() / "llm-cache.sqlite"


def llm_string(request: Mapping[str, Any]) -> str:
    """The model half of a key: the request's parameters besides the messages (decoding settings and the
    call's own, such as `max_tokens`), as canonical JSON.

    langchain-core's own `llm_string` holds the base URL, whose port changes with every embedded server;
    here the endpoint is left to the cache's namespace. A parameter JSON cannot write is refused rather
    than keyed by its repr, which could collide or change between processes."""
    return json.dumps(request, sort_keys=True, ensure_ascii=False, default=_unkeyable)


def _unkeyable(value: object) -> object:
    raise TypeError(f"the LLM-call cache cannot key a request on {value!r}")  # never collide silently


@contextmanager
def reask(number: int) -> Iterator[None]:
    """Key the `number`-th re-ask of a prompt apart from the first ask: an unparseable answer, once
    cached, must not answer its own re-ask (now, or in every later run)."""
    token = _reask.set(number)
    try:
        yield
    finally:
        _reask.reset(token)


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int


class SqliteLLMCache(BaseCache):
    """A langchain `BaseCache` in one SQLite file; entries of other namespaces share the file untouched.

    Safe under concurrent writers: WAL journal (readers never block the writer), a busy timeout for
    writers from other processes, one connection per thread, and `INSERT OR REPLACE` (two processes that
    race on one key store the same kind of answer; the last one wins)."""

    def __init__(self, path: str | Path | None = None, *, namespace: str = "") -> None:
        self.path = Path(path).expanduser() if path is not None else default_cache_path()
        self.namespace = namespace
        self._local = threading.local()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._undecodable = 0

    def key(self, prompt: str, llm_string: str) -> str:
        """sha256 of the namespace, re-ask number, prompt and llm_string, JSON-encoded so that no two
        different tuples can run together into one key."""
        material = json.dumps([self.namespace, _reask.get(), prompt, llm_string], ensure_ascii=False)
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def check(self) -> None:
        """Make sure, once before a run, that the file is a sound SQLite database that takes writes, so a
        run never starts only to fail every sentence on it. Raises `StorageError` saying what to do."""
        with self._errors():
            connection = self._connection()
            problems = [row[0] for row in connection.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError(f"database disk image is malformed ({problems[0]})")
            connection.execute("BEGIN IMMEDIATE")  # takes the write lock: fails on a read-only file
            connection.execute("ROLLBACK")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's and the OS's errors as one `StorageError` that names the file and says what to do."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            message = str(exc)
            if "locked" in message:
                raise StorageError(
                    f"the LLM-call cache {self.path} stayed locked by another process ({message}): try "
                    "again, or run with --no-cache"
                ) from exc
            if any(word in message for word in ("readonly", "read-only", "unable to open", "disk is full")):
                raise StorageError(
                    f"cannot write the LLM-call cache {self.path} ({message}): run with --no-cache, or set "
                    "cache_path to a file that can be written"
                ) from exc
            raise StorageError(
                f"the LLM-call cache {self.path} is damaged ({message}): move it aside "
                f"(mv {self.path} {self.path}.damaged) to start a new one, or run with --no-cache"
            ) from exc
        except OSError as exc:
            raise StorageError(
                f"cannot write the LLM-call cache {self.path} ({exc.strerror or exc}): run with --no-cache, "
                "or set cache_path to a file that can be written"
            ) from exc

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit: each INSERT is its own transaction, durable once it returns (a killed run
            # keeps every answer it was given).
            connection = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
            with self._lock:  # one thread at a time sets the file up; the busy timeout covers processes
                self._set_up(connection)
            self._local.connection = connection
        return connection

    @staticmethod
    def _set_up(connection: sqlite3.Connection) -> None:
        """Switch to WAL and create the table. SQLite reports "locked" at once, without the busy
        timeout, when two connections change the journal mode together: wait and try again."""
        deadline = time.monotonic() + BUSY_SECONDS
        while True:
            try:
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = NORMAL")
                connection.execute(
                    "CREATE TABLE IF NOT EXISTS llm_cache (key TEXT PRIMARY KEY, namespace TEXT NOT NULL, "
                    "generations TEXT NOT NULL, created REAL NOT NULL)"
                )
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def lookup(self, prompt: str, llm_string: str) -> Sequence[Generation] | None:
        with self._errors():
            row = (
                self._connection()
                .execute("SELECT generations FROM llm_cache WHERE key = ?", (self.key(prompt, llm_string),))
                .fetchone()
            )
        generations = None if row is None else self._decoded(row[0])
        with self._lock:
            if generations is None:
                self._misses += 1
            else:
                self._hits += 1
        return generations

    def _decoded(self, stored: str) -> list[Generation] | None:
        """A row's answer, freshly loaded (marking it cannot touch a stored value); None when the row
        cannot be decoded (written by something else, or damaged inside a sound database): a miss, asked
        again and written over, with one warning per cache."""
        try:
            generations: list[Generation] = []
            for entry in json.loads(stored):
                (message,) = messages_from_dict([entry["message"]])
                message.response_metadata["mbre_cache"] = HIT
                generations.append(ChatGeneration(message=message, generation_info=entry["generation_info"]))
            if not generations:
                raise ValueError("no answer in the entry")
            return generations
        except (TypeError, ValueError, KeyError) as exc:
            with self._lock:
                self._undecodable += 1
                first = self._undecodable == 1
            if first:
                _log.warning(
                    "the LLM-call cache %s holds an entry that cannot be read (%s: %s): such calls are asked "
                    "again and their entries rewritten",
                    self.path,
                    type(exc).__name__,
                    exc,
                )
            return None

    def update(self, prompt: str, llm_string: str, return_val: Sequence[Generation]) -> None:
        stored = [
            {"message": message_to_dict(generation.message), "generation_info": generation.generation_info}
            for generation in return_val
            if isinstance(generation, ChatGeneration)  # chat models only produce these
        ]
        with self._errors():
            self._connection().execute(
                "INSERT OR REPLACE INTO llm_cache (key, namespace, generations, created) VALUES (?, ?, ?, ?)",
                (
                    self.key(prompt, llm_string),
                    self.namespace,
                    json.dumps(stored, ensure_ascii=False, default=_plain),
                    time.time(),
                ),
            )

    def clear(self, **kwargs: Any) -> None:
        """Forget this namespace's entries; other models' entries in the same file stay."""
        self._connection().execute("DELETE FROM llm_cache WHERE namespace = ?", (self.namespace,))

    def stats(self) -> CacheStats:
        """Lookups of this cache object so far (this process only)."""
        with self._lock:
            return CacheStats(hits=self._hits, misses=self._misses)


def is_cache_hit(message: AIMessage | None) -> bool:
    """Whether the message was served from an `SqliteLLMCache` rather than by the provider."""
    return message is not None and (message.response_metadata or {}).get("mbre_cache") == HIT


def _plain(value: Any) -> Any:
    """A pydantic object some integrations leave in an answer's metadata (the ollama client's `Logprob`),
    as the plain data it holds."""
    if hasattr(value, "model_dump"):
        return value.model_dump()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
