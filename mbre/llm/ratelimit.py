"""One rate limiter per endpoint and model, shared by every node: requests and tokens per minute.

Passed to the chat model as `rate_limiter=`, so langchain-core acquires it only for calls the LLM-call
cache did not answer (see `mbre.llm.cache`). Tokens are only known after a call: `record` debits the
call's actual usage, and `acquire` waits while the minute's token budget is spent.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from langchain_core.rate_limiters import BaseRateLimiter


class _Bucket:
    """A token bucket refilled at `per_minute / 60` per second, holding at most `per_minute` (at least
    1, so that a rate below one per minute still lets requests through)."""

    def __init__(self, per_minute: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(float(per_minute), 1.0)
        self.level = self.capacity
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait(self) -> float:
        """Seconds until the bucket holds one unit again (0 when it does, up to rounding: a clock whose
        ticks are coarser than the rounding error would otherwise never get there)."""
        missing = 1.0 - self.level
        return missing / self.rate if missing > 1e-9 else 0.0


class RateLimiter(BaseRateLimiter):
    """Requests per minute and tokens per minute, as token buckets: a fresh limiter allows one minute's
    worth at once, then refills evenly. Thread-safe; `clock` and `sleep` are injectable for tests."""

    def __init__(
        self,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        now = clock()
        self._requests = _Bucket(requests_per_minute, now) if requests_per_minute else None
        self._tokens = _Bucket(tokens_per_minute, now) if tokens_per_minute else None
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def _try(self) -> float:
        """Take one request if both budgets allow it and return 0, else return how long to wait."""
        with self._lock:
            now = self._clock()
            buckets = [bucket for bucket in (self._requests, self._tokens) if bucket is not None]
            for bucket in buckets:
                bucket.refill(now)
            wait = max((bucket.wait() for bucket in buckets), default=0.0)
            if wait == 0.0 and self._requests is not None:
                self._requests.level -= 1.0
            return wait

    def acquire(self, *, blocking: bool = True) -> bool:
        while (wait := self._try()) > 0.0:
            if not blocking:
                return False
            self._sleep(wait)
        return True

    async def aacquire(self, *, blocking: bool = True) -> bool:
        while (wait := self._try()) > 0.0:
            if not blocking:
                return False
            await asyncio.sleep(wait)
        return True

    def record(self, tokens: int) -> None:
        """Debit the tokens a call actually used (prompt and completion); the budget may go negative,
        and then requests wait until it has refilled."""
        if self._tokens is None:
            return
        with self._lock:
            self._tokens.refill(self._clock())
            self._tokens.level -= tokens


_limiters: dict[tuple[str, str, str, float | None, int | None], RateLimiter] = {}
_limiters_lock = threading.Lock()


def shared_limiter(
    provider: str,
    endpoint: str,
    model: str,
    *,
    requests_per_minute: float | None,
    tokens_per_minute: int | None,
) -> RateLimiter | None:
    """The process-wide limiter of one model at one endpoint, so both roles (and every chat model built
    for it, whatever its decoding settings) draw on one budget; None when neither limit is set."""
    if not requests_per_minute and not tokens_per_minute:
        return None
    key = (provider, endpoint, model, requests_per_minute, tokens_per_minute)
    with _limiters_lock:
        if key not in _limiters:
            _limiters[key] = RateLimiter(
                requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute
            )
        return _limiters[key]
