"""A small HTTP/1.1 load generator for the throughput rows: keep-alive connections on raw
asyncio streams, one pre-built request, responses read by Content-Length or chunked framing.

httpx as a load generator tops out near 800 requests/s on one core of these machines (it was
measuring itself); this costs a few tens of microseconds per request, so the server is what
is measured.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit


def build_request(url: str, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    """The bytes of one POST request with a JSON body, kept alive."""
    parts = urlsplit(url)
    payload = json.dumps(body).encode()
    lines = [
        f"POST {parts.path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one whole response; its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    marker = lower.find(b"content-length:")
    if marker >= 0:
        end = lower.index(b"\r\n", marker)
        await reader.readexactly(int(lower[marker + 15 : end]))
        return status
    if b"transfer-encoding: chunked" not in lower:
        raise RuntimeError("response without a length")
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return status


async def _client(url: str, request: bytes, until: float, counts: dict[str, int]) -> None:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        while time.perf_counter() < until:
            writer.write(request)
            status = await _read_response(reader)
            key = "ok" if status == 200 else f"status {status}"
            counts[key] = counts.get(key, 0) + 1
    finally:
        writer.close()


async def _drive(url: str, request: bytes, concurrency: int, seconds: float) -> dict[str, int]:
    counts: dict[str, int] = {}
    until = time.perf_counter() + seconds
    await asyncio.gather(*(_client(url, request, until, counts) for _ in range(concurrency)))
    return counts


def requests_per_second(
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    *,
    concurrency: int = 64,
    seconds: float = 5.0,
) -> float:
    """Successful requests per second over `seconds` (after a one-second warm-up)."""
    request = build_request(url, body, headers)
    asyncio.run(_drive(url, request, concurrency, 1.0))
    start = time.perf_counter()
    counts = asyncio.run(_drive(url, request, concurrency, seconds))
    wall = time.perf_counter() - start
    failed = {k: v for k, v in counts.items() if k != "ok"}
    if failed:
        raise RuntimeError(f"{url}: failed requests {failed}")
    return counts.get("ok", 0) / wall
