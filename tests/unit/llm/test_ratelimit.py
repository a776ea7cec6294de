"""The shared rate limiter: requests and tokens a minute on a fake clock, and its place beneath the cache."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from mbre.graph.context import MbreContext
from mbre.llm.providers import chat_model, chat_model_for
from mbre.llm.ratelimit import RateLimiter
from mbre.llm.settings import ModelSettings
from mbre.llm.structured import Answer, ask_choice
from tests.support.openai_stub import stub_server


class FakeClock:
    """Time that passes only when someone sleeps; thread-safe."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def limiter(clock: FakeClock, **limits: Any) -> RateLimiter:
    return RateLimiter(clock=clock, sleep=clock.sleep, **limits)


def test_requests_per_minute_allow_a_minutes_worth_then_pace_evenly():
    clock = FakeClock()
    limit = limiter(clock, requests_per_minute=3)
    assert all(limit.acquire() for _ in range(3)) and clock.sleeps == []
    assert limit.acquire(blocking=False) is False and clock.sleeps == []
    assert limit.acquire() and clock.sleeps == [pytest.approx(20.0)]  # 3 a minute: one every 20 s
    clock.sleep(3600)  # a long pause refills the budget to one minute's worth, not more
    assert all(limit.acquire() for _ in range(3)) and len(clock.sleeps) == 2
    assert limit.acquire(blocking=False) is False


def test_tokens_per_minute_wait_while_the_spent_budget_refills():
    clock = FakeClock()
    limit = limiter(clock, tokens_per_minute=600)  # 10 tokens a second
    assert limit.acquire() and limit.acquire()  # no request limit: only spent tokens hold calls back
    limit.record(900)  # more than the budget: it goes 300 into debt
    assert limit.acquire(blocking=False) is False
    assert limit.acquire() and clock.sleeps == [pytest.approx(30.1)]  # (300 + 1) tokens at 10 a second
    assert limit.acquire(blocking=False)  # the tokens were not debited by acquiring


def test_both_limits_at_once_wait_for_the_later_one():
    clock = FakeClock()
    limit = limiter(clock, requests_per_minute=60, tokens_per_minute=60)
    assert limit.acquire()
    limit.record(120)  # the tokens need 61 s, the requests none
    assert limit.acquire() and clock.sleeps == [pytest.approx(61.0)]


def test_threads_never_exceed_the_rate():
    clock = FakeClock()
    limit = limiter(clock, requests_per_minute=10)  # a burst of 10, then one every 6 s
    start = clock.now

    def work() -> None:
        for _ in range(5):
            limit.acquire()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.now - start >= (8 * 5 - 10) * 6.0 - 1e-6  # 40 grants took at least 30 refills


def test_aacquire_waits_without_blocking_the_loop():
    limit = RateLimiter(requests_per_minute=600)  # real time: one every 0.1 s after a burst of 600
    while limit.acquire(blocking=False):
        pass

    async def run() -> tuple[bool, bool, float]:
        refused = await limit.aacquire(blocking=False)
        started = time.monotonic()
        granted = await limit.aacquire()
        return refused, granted, time.monotonic() - started

    refused, granted, waited = asyncio.run(run())
    assert (refused, granted) == (False, True) and 0.05 <= waited < 1.0


def test_one_limiter_per_endpoint_and_model_shared_by_both_roles(tmp_path):
    with stub_server(lambda messages, schema: "Yes.") as one, stub_server(lambda m, s: "Yes.") as two:
        ctx = MbreContext(
            model="openai:m",
            extraction_model="openai:m",
            base_url=one.base_url,
            requests_per_minute=60,
            cache_path=str(tmp_path / "c.sqlite"),
        )
        shared = chat_model_for(ctx, "extraction").rate_limiter
        assert isinstance(shared, RateLimiter) and chat_model_for(ctx, "verification").rate_limiter is shared
        warmer = MbreContext(model="openai:m", base_url=one.base_url, requests_per_minute=60, temperature=0.5)
        # another chat model ...
        assert chat_model_for(warmer, "extraction") is not chat_model_for(ctx, "extraction")
        assert chat_model_for(warmer, "extraction").rate_limiter is shared  # ... drawing on the same budget
        other_model = MbreContext(model="openai:n", base_url=one.base_url, requests_per_minute=60)
        other_server = MbreContext(model="openai:m", base_url=two.base_url, requests_per_minute=60)
        assert chat_model_for(other_model, "extraction").rate_limiter is not shared
        assert chat_model_for(other_server, "extraction").rate_limiter is not shared
        unlimited = MbreContext(model="openai:m", base_url=one.base_url)
        assert chat_model_for(unlimited, "extraction").rate_limiter is None


class CountingLimiter(RateLimiter):
    def __init__(self, clock: FakeClock, **limits: Any) -> None:
        super().__init__(clock=clock, sleep=clock.sleep, **limits)
        self.acquired = 0

    def acquire(self, *, blocking: bool = True) -> bool:
        self.acquired += 1
        return super().acquire(blocking=blocking)


def test_cache_hits_neither_wait_for_nor_spend_the_budget(tmp_path):
    clock = FakeClock()
    limit = CountingLimiter(clock, tokens_per_minute=100)  # 100/60 tokens a second
    with stub_server(
        lambda messages, schema: "A because it says!",
    ) as server:
        built = chat_model(
            ModelSettings(model="openai:m", base_url=server.base_url, cache_path=str(tmp_path / "c"))
        )
        model = built.model_copy(update={"rate_limiter": limit})

        def asked(text: str) -> Answer:
            return ask_choice(model, [HumanMessage(text)], ("A", "B"), max_tokens=20)

        spent = asked("first").usage  # 50 prompt + 18 completion tokens: 32 left
        assert spent.prompt_tokens + spent.completion_tokens == 68
        assert asked("first").usage.cached_calls == 1 and limit.acquired == 1  # the hit never acquired
        asked("second")  # 32 left is enough to go; it spends 68: 36 in debt
        assert clock.sleeps == []  # had the hit been debited, this call would have waited
        asked("third")
        assert clock.sleeps == [pytest.approx((36 + 1) * 60 / 100)]
        assert limit.acquired == 3 and len(server.requests) == 3
