"""A fleet of OpenAI-compatible servers behind one chat model: each request goes to the healthy endpoint
with the fewest requests in flight; an endpoint that stops answering (refused, reset or timed-out
connections) is taken out, the request is sent to another one at once, and the endpoint is tried again
after a pause that doubles while it keeps failing.

This lives in the HTTP transport, under the openai SDK, like `mbre.llm.local.transport`: the chat model
keeps one client, and mbre's counted retries (`mbre.llm.retry`) see a failure only when every endpoint
failed the request. A chat completion at a fixed temperature has no side effect, so sending it again
elsewhere is safe. The endpoint that answered the last request of a thread (or task) is `answered_by()`,
which the trace records.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlparse

import httpx

from mbre.errors import SettingError
from mbre.files import mask_urls, remember_secret

#: What an endpoint that died, hangs or is not listening does to a request.
LOST = (httpx.TransportError,)
#: The first pause of an endpoint taken out, doubled at each failure of a trial request up to the cap.
FIRST_PAUSE_SECONDS = 1.0
MAX_PAUSE_SECONDS = 30.0

_answered_by: ContextVar[str | None] = ContextVar("mbre_fleet_answered_by", default=None)


def answered_by() -> str | None:
    """The endpoint (masked) that answered this thread's or task's last fleet request; None before any."""
    return _answered_by.get()


def forget_answer() -> None:
    """Clear `answered_by` before a call, so that an answer from the cache is not credited to a server."""
    _answered_by.set(None)


@dataclass
class Endpoint:
    url: httpx.URL
    in_flight: int = 0
    failures: int = 0
    """Failures in a row; 0 while it answers."""
    down_until: float = 0.0
    """Monotonic time before which it takes no request (0: healthy)."""
    answered: int = 0

    @property
    def name(self) -> str:
        return mask_urls(str(self.url).rstrip("/"))


class Fleet:
    """The endpoints and their health, shared by the sync and async transports of one chat model.
    Thread-safe: the graph's nodes call from many threads."""

    def __init__(self, urls: Sequence[str], clock: Callable[[], float] = time.monotonic) -> None:
        if not urls:
            raise ValueError("a fleet needs at least one endpoint")
        self.endpoints = [Endpoint(httpx.URL(url.rstrip("/") + "/")) for url in urls]
        self._clock = clock
        self._lock = threading.Lock()
        self._turn = 0
        """Where the round of ties starts: after the endpoint picked last."""

    def pick(self, tried: set[int]) -> int | None:
        """The healthy endpoint not yet tried for this request with the fewest in flight, among equals the
        next after the last one picked (a paused one whose pause is over counts as healthy: it gets one
        trial); None when every one was tried. With none healthy, the one whose pause ends first, so a
        request never waits for a whole fleet down."""
        with self._lock:
            now = self._clock()
            left = [i for i in range(len(self.endpoints)) if i not in tried]
            if not left:
                return None
            healthy = [i for i in left if self.endpoints[i].down_until <= now]
            if healthy:  # ties go round the fleet, so an idle fleet is not all asked of its first server
                turn = len(self.endpoints)
                chosen = min(healthy, key=lambda i: (self.endpoints[i].in_flight, (i - self._turn) % turn))
            else:
                chosen = min(left, key=lambda i: self.endpoints[i].down_until)
            self.endpoints[chosen].in_flight += 1
            self._turn = chosen + 1
            return chosen

    def done(self, index: int, *, lost: bool) -> None:
        """A request to endpoint `index` ended: answered, or `lost` (taken out for a pause)."""
        with self._lock:
            endpoint = self.endpoints[index]
            endpoint.in_flight -= 1
            if lost:
                endpoint.failures += 1
                pause = min(MAX_PAUSE_SECONDS, FIRST_PAUSE_SECONDS * 2 ** (endpoint.failures - 1))
                endpoint.down_until = self._clock() + pause
            else:
                endpoint.failures, endpoint.down_until = 0, 0.0
                endpoint.answered += 1

    def aim(self, request: httpx.Request, index: int) -> None:
        """Point `request`, made for the first endpoint's URL, at endpoint `index` (same path below it)."""
        first, target = self.endpoints[0].url.raw_path, self.endpoints[index].url
        path = request.url.raw_path
        if path.startswith(first):
            request.url = target.join(path[len(first) :].decode("ascii"))
        else:
            request.url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
        request.headers["host"] = request.url.netloc.decode("ascii")

    def answered(self) -> dict[str, int]:
        """Requests answered so far, by endpoint (masked)."""
        with self._lock:
            return {endpoint.name: endpoint.answered for endpoint in self.endpoints}


class FleetTransport(httpx.BaseTransport):
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        tried: set[int] = set()
        last: httpx.TransportError | None = None
        while True:
            index = self._fleet.pick(tried)
            if index is None:  # every endpoint failed this request: mbre's retries take it from here
                assert last is not None
                raise last
            tried.add(index)
            self._fleet.aim(request, index)
            try:
                response = self._inner.handle_request(request)
                response.read()  # inside the try: an endpoint that dies mid-answer lost the request too
            except LOST as error:
                self._fleet.done(index, lost=True)
                last = error
                continue
            self._fleet.done(index, lost=False)
            _answered_by.set(self._fleet.endpoints[index].name)
            return response

    def close(self) -> None:
        self._inner.close()


class AsyncFleetTransport(httpx.AsyncBaseTransport):
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        tried: set[int] = set()
        last: httpx.TransportError | None = None
        while True:
            index = self._fleet.pick(tried)
            if index is None:  # every endpoint failed this request: mbre's retries take it from here
                assert last is not None
                raise last
            tried.add(index)
            self._fleet.aim(request, index)
            try:
                response = await self._inner.handle_async_request(request)
                await response.aread()
            except LOST as error:
                self._fleet.done(index, lost=True)
                last = error
                continue
            self._fleet.done(index, lost=False)
            _answered_by.set(self._fleet.endpoints[index].name)
            return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def fleet_clients(base_url: str | None, more: Sequence[str]) -> tuple[httpx.Client, httpx.AsyncClient]:
    """The sync and async clients of a chat model made for `base_url`, spreading its requests over it and
    `more`. No proxy from the environment: each endpoint is reached directly."""
    if base_url is None:
        raise SettingError("a fleet (several --base-url, or `fleet`) needs base_url, its first server")
    urls = [base_url, *more]
    for url in urls:  # a provider may echo the URL, or the password
        parts = urlparse(url)
        if parts.password:
            remember_secret(f"{parts.username}:{parts.password}")
            remember_secret(parts.password)
    fleet = Fleet(urls)
    return (
        httpx.Client(transport=FleetTransport(fleet), trust_env=False),
        httpx.AsyncClient(transport=AsyncFleetTransport(fleet), trust_env=False),
    )
