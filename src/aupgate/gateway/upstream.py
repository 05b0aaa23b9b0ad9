"""The upstream model server: one pooled `aiohttp` client session, failures mapped to 502/504.

aiohttp rather than httpx: at 64 concurrent requests httpx's pool (httpcore checks every idle
connection on every request) held the client to 160 requests/s on these machines against the
benchmark's instant upstream, 943/s with 8 kept-alive connections; aiohttp did 11,484/s in the
same run (docs/gateway.md, "Upstream client").

A streamed request is an async context manager: leaving it before the body ended (on a deny,
or because the client went away and the task was cancelled) closes the upstream connection,
which is how a model server learns to stop generating.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from aupgate.gateway.errors import GatewayError

_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


class UpstreamFailure(GatewayError):
    """The upstream could not be reached, timed out, or failed (502/504)."""

    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(status, message, type="upstream_error", code=f"upstream_{reason}")
        self.reason = reason


def _failure(exc: BaseException) -> UpstreamFailure:
    # ServerTimeoutError (connect or read) is also an asyncio.TimeoutError.
    if isinstance(exc, asyncio.TimeoutError):
        return UpstreamFailure(
            504, "the model server did not answer in time; retry later", "timeout"
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamFailure(502, "the model server is unreachable; retry later", "connect")
    return UpstreamFailure(502, "the model server connection failed; retry later", "protocol")


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole (non-streamed) upstream answer."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON; raises ValueError if it is not."""
        return json.loads(self.body)


class Stream:
    """A streamed upstream answer whose body has not been read yet."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status

    async def read(self) -> bytes:
        """The whole remaining body (for error answers)."""
        try:
            return await self._response.read()
        except _ERRORS as exc:
            raise _failure(exc) from None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, with read failures mapped like `Upstream.post`."""
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except _ERRORS as exc:
            raise _failure(exc) from None

    def close(self) -> None:
        if self._response.content.at_eof():
            self._response.release()  # the connection goes back to the pool
        else:
            self._response.close()  # an unfinished generation: drop the connection


class Upstream:
    """An OpenAI-compatible server at `base_url` (ending in /v1)."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        connect_timeout_s: float,
        max_connections: int = 256,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._max_connections = max_connections
        # `timeout_s` bounds each wait for bytes (as httpx's read timeout did), not the
        # whole answer: a long generation that keeps streaming is not cut off.
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout_s, sock_read=timeout_s
        )
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                timeout=self._timeout,
                # Bodies are passed through byte for byte, so none may arrive compressed.
                skip_auto_headers=("Accept-Encoding",),
                raise_for_status=False,
            )
        return self._session

    def _url(self, path: str) -> str:
        return self.base_url + path

    async def post(self, path: str, body: Mapping[str, Any]) -> Answer:
        """POST and read the whole answer (non-streaming)."""
        try:
            async with self._client().post(self._url(path), json=body) as response:
                return Answer(response.status, await response.read())
        except _ERRORS as exc:
            raise _failure(exc) from None

    @asynccontextmanager
    async def stream(self, path: str, body: Mapping[str, Any]) -> AsyncIterator[Stream]:
        """POST and yield the answer with its body unread; closes it on exit."""
        try:
            response = await self._client().post(self._url(path), json=body)
        except _ERRORS as exc:
            raise _failure(exc) from None
        stream = Stream(response)
        try:
            yield stream
        finally:
            stream.close()

    async def ready(self) -> bool:
        """True if `GET /models` answers 200 within the timeout."""
        try:
            async with self._client().get(self._url("/models")) as response:
                return response.status == 200
        except _ERRORS:
            return False

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
