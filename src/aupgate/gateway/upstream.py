"""The upstream model server: one pooled `httpx.AsyncClient`, failures mapped to 502/504.

A streamed request is an async context manager: leaving it (normally, on a deny, or because
the client went away and the task was cancelled) closes the upstream connection, which is how
a model server learns to stop generating.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from aupgate.gateway.errors import GatewayError


class UpstreamFailure(GatewayError):
    """The upstream could not be reached, timed out, or failed (502/504)."""

    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(status, message, type="upstream_error", code=f"upstream_{reason}")
        self.reason = reason


def _failure(exc: httpx.HTTPError) -> UpstreamFailure:
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamFailure(
            504, "the model server did not answer in time; retry later", "timeout"
        )
    if isinstance(exc, httpx.ConnectError):
        return UpstreamFailure(502, "the model server is unreachable; retry later", "connect")
    return UpstreamFailure(502, "the model server connection failed; retry later", "protocol")


class Upstream:
    """An OpenAI-compatible server at `base_url` (ending in /v1)."""

    def __init__(self, base_url: str, timeout_s: float, connect_timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )

    async def post(self, path: str, body: Mapping[str, Any]) -> httpx.Response:
        """POST and read the whole answer (non-streaming)."""
        try:
            return await self._client.post(path, json=body)
        except httpx.HTTPError as exc:
            raise _failure(exc) from None

    @asynccontextmanager
    async def stream(self, path: str, body: Mapping[str, Any]) -> AsyncIterator[httpx.Response]:
        """POST and yield the response with its body unread; closes it on exit."""
        request = self._client.build_request("POST", path, json=body)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _failure(exc) from None
        try:
            yield response
        finally:
            await response.aclose()

    async def chunks(self, response: httpx.Response) -> AsyncIterator[bytes]:
        """The raw body of a streamed response, with read failures mapped like `post`."""
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        except httpx.HTTPError as exc:
            raise _failure(exc) from None

    async def ready(self) -> bool:
        """True if `GET /models` answers 200 within the timeout."""
        try:
            return (await self._client.get("/models")).status_code == httpx.codes.OK
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        await self._client.aclose()
