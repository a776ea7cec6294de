"""Transient-error retries around one model call, counted by kind.

The chat models are built with the openai SDK's own retries off (`max_retries=0`), so every retry happens
here, where it is counted (`Usage.retries`, `Retrier.stats()`) and where its waits can be tuned, or faked
in tests. Rate limits (429, honouring `Retry-After`/`retry-after-ms`), server errors (5xx, 409),
timeouts (client-side, 408) and lost connections are retried with jittered exponential backoff; any other
refusal fails at once with the provider's own message.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Literal, TypeVar

import openai

from mbre.errors import MbreError

R = TypeVar("R")
RetryKind = Literal["rate_limited", "server_error", "connection", "timeout"]


class LLMCallError(MbreError):
    """A model call that failed for good: the provider refused the request, or transient errors outlasted
    the retries. The message carries the provider's own explanation."""

    def __init__(self, message: str, *, status: int | None, retries: int) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status of the last failure; None when no response came back."""
        self.retries = retries
        """How many times the request was sent again before giving up."""


def retry_kind(error: openai.APIError) -> RetryKind | None:
    """Which transient failure this is, or None when sending the same request again cannot help.

    An `MbreError` raised under the SDK by mbre's own HTTP transport (the embedded server cannot be
    started, or dies on this very request: `mbre.llm.local.transport`) is final. Recent SDKs let it
    through as it is; older ones wrap any exception as a connection error, with it as the cause."""
    if isinstance(error, openai.APITimeoutError):  # a subclass of APIConnectionError: test it first
        return "timeout"
    if isinstance(error, openai.APIConnectionError):
        return None if isinstance(error.__cause__, MbreError) else "connection"
    if isinstance(error, openai.APIStatusError):
        if error.status_code == 429:
            return "rate_limited"
        if error.status_code == 408:
            return "timeout"
        if error.status_code == 409 or error.status_code >= 500:
            return "server_error"
    return None


def retry_after(error: openai.APIError, now: float) -> float | None:
    """Seconds the provider asked us to wait: `retry-after-ms`, or `Retry-After` in seconds or as an HTTP
    date (relative to `now`, Unix time); None when it said nothing usable."""
    if not isinstance(error, openai.APIStatusError):
        return None
    headers = error.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) * scale
            except ValueError:
                pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError):
        return None


def provider_message(error: openai.APIError) -> str:
    """The provider's explanation (OpenAI-style `{"error": {"message": ...}}`), else mbre's own error
    under the SDK (see `retry_kind`), else the SDK's message."""
    if isinstance(error.__cause__, MbreError):
        return str(error.__cause__)
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return error.message


class Retrier:
    """Runs a model call, sending it again after transient provider errors.

    Thread-safe: one Retrier serves every call of a chat model. The wait before retry n (from 0) is the
    provider's `Retry-After` when it gave one (bounded by `retry_after_cap_seconds`), else
    `min(cap_seconds, base_seconds * 2**n)` scaled by a random factor in [0.5, 1) so that concurrent
    callers do not come back in lockstep."""

    def __init__(
        self,
        *,
        max_retries: int = 6,
        base_seconds: float = 0.5,
        cap_seconds: float = 30.0,
        retry_after_cap_seconds: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.max_retries = max_retries
        self.base_seconds = base_seconds
        self.cap_seconds = cap_seconds
        self.retry_after_cap_seconds = retry_after_cap_seconds
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._counts: Counter[RetryKind] = Counter()
        self._lock = threading.Lock()

    def delay(self, retry: int, error: openai.APIError) -> float:
        """Seconds to wait before sending the request again for the `retry`-th time (from 0)."""
        asked = retry_after(error, self._clock())
        if asked is not None:
            return min(max(asked, 0.0), self.retry_after_cap_seconds)
        return min(self.cap_seconds, self.base_seconds * 2**retry) * (0.5 + self._jitter() / 2)

    def call(self, function: Callable[[], R]) -> tuple[R, int]:
        """`function()` and how many retries it took; raises `LLMCallError` when it cannot succeed."""
        retries = 0
        while True:
            try:
                return function(), retries
            except openai.APIError as error:
                kind = retry_kind(error)
                status = error.status_code if isinstance(error, openai.APIStatusError) else None
                if kind is None:
                    where = f"HTTP {status}" if status is not None else type(error).__name__
                    raise LLMCallError(
                        f"the provider refused the request ({where}): {provider_message(error)}",
                        status=status,
                        retries=retries,
                    ) from error
                if retries >= self.max_retries:
                    raise LLMCallError(
                        f"gave up after {retries} retries (last failure: {kind}): {provider_message(error)}",
                        status=status,
                        retries=retries,
                    ) from error
                with self._lock:
                    self._counts[kind] += 1
                self._sleep(self.delay(retries, error))
                retries += 1

    def stats(self) -> dict[RetryKind, int]:
        """Retries so far by kind (kinds that never happened are left out)."""
        with self._lock:
            return dict(self._counts)
