"""HTTP clients that follow the shared server across restarts: each request goes to the server's current
port, and a request whose connection is refused or lost (the server died, is restarting, or stopped when
idle) is sent again once the server is back, rather than failing its sentence.

This lives in the transport, under the openai SDK, so the chat model keeps one client for the process's
life and mbre's retries (`mbre.llm.retry`) never spend their budget on a restart: a chat completion at a
fixed temperature has no side effect, so sending it again is safe. When the server cannot be had, the
error is a `LocalModelError` (an `MbreError`), which the retries treat as final.
"""

from __future__ import annotations

import anyio.to_thread
import httpx

from mbre.llm.local.models import LocalModelError
from mbre.llm.local.registry import Entry
from mbre.llm.local.shared import SharedServer

#: How often one request follows the server to a new start before giving up: a request that kills the
#: server every time it is sent must fail, not restart it forever.
MAX_RECOVERIES = 2
#: What a server that died, or is not listening yet, does to a request.
_LOST = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class LocalServerLost(LocalModelError):
    """The server died again each time this request was sent."""


def _aim(request: httpx.Request, entry: Entry) -> None:
    request.url = request.url.copy_with(port=entry.port)
    request.headers["host"] = f"127.0.0.1:{entry.port}"


def _lost(entry: Entry, error: httpx.HTTPError) -> LocalServerLost:
    return LocalServerLost(
        f"the embedded server died {MAX_RECOVERIES + 1} times while answering one request "
        f"({type(error).__name__}); log {entry.log}"
    )


class FollowingTransport(httpx.BaseTransport):
    def __init__(self, server: SharedServer) -> None:
        self._server = server
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        recoveries = 0
        while True:
            entry = self._server.entry
            _aim(request, entry)
            try:
                response = self._inner.handle_request(request)
                response.read()  # inside the try: a server that dies mid-answer is a lost request too
                return response
            except _LOST as error:
                if recoveries == MAX_RECOVERIES:
                    raise _lost(entry, error) from error
            recoveries += 1
            self._server.recover(entry)

    def close(self) -> None:
        self._inner.close()


class AsyncFollowingTransport(httpx.AsyncBaseTransport):
    def __init__(self, server: SharedServer) -> None:
        self._server = server
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        recoveries = 0
        while True:
            entry = await anyio.to_thread.run_sync(lambda: self._server.entry)
            _aim(request, entry)
            try:
                response = await self._inner.handle_async_request(request)
                await response.aread()
                return response
            except _LOST as error:
                if recoveries == MAX_RECOVERIES:
                    raise _lost(entry, error) from error
            recoveries += 1
            await anyio.to_thread.run_sync(self._server.recover, entry)

    async def aclose(self) -> None:
        await self._inner.aclose()


def following_clients(server: SharedServer) -> tuple[httpx.Client, httpx.AsyncClient]:
    """The sync and async clients for a chat model of ``server``; loopback, so no proxy from the
    environment ever sees a call."""
    return (
        httpx.Client(transport=FollowingTransport(server), trust_env=False),
        httpx.AsyncClient(transport=AsyncFollowingTransport(server), trust_env=False),
    )
