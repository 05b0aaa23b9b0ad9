"""Per-caller rate limits with the `limits` package: in memory, or in Redis for several workers.

The strategy is the sliding window counter (this window's count plus the previous window's,
weighted by how much of it still overlaps): O(1) per hit in both stores. The exact moving
window keeps one entry per hit and, in memory, sweeps them in a worker thread after every
request, which cost more than the policy decision at a few hundred requests per second.
"""

from __future__ import annotations

import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from aupgate.errors import InvalidInputError
from aupgate.gateway.errors import GatewayError, unavailable


class RateLimiter:
    """`check(subject)` raises a 429 GatewayError once the subject is over its limit."""

    def __init__(self, rate: str, redis_url: str | None) -> None:
        try:
            self._item: RateLimitItem = parse(rate)
        except ValueError:
            raise InvalidInputError(
                f"invalid rate_limit {rate!r}; use e.g. '60/minute' or '10/second'"
            ) from None
        self._storage: Storage = (
            # redis-py's asyncio client (the `redis` package), not the default `coredis`.
            RedisStorage(_async_url(redis_url), implementation="redispy")
            if redis_url
            else MemoryStorage()
        )
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)

    async def check(self, subject: str) -> None:
        try:
            allowed = await self._limiter.hit(self._item, "aupgate", subject)
        except Exception:  # the counter store is down: refuse rather than go unlimited
            raise unavailable(
                "the rate-limit store is unavailable, so requests are refused; retry later",
                "rate_limit_store_unavailable",
            ) from None
        if allowed:
            return
        stats = await self._limiter.get_window_stats(self._item, "aupgate", subject)
        retry = max(1, int(stats.reset_time - time.time()) + 1)
        raise GatewayError(
            429,
            f"rate limit of {self._item} exceeded for your credential; retry in {retry} s",
            type="rate_limit_error",
            code="rate_limit_exceeded",
            headers={"Retry-After": str(retry)},
        )

    async def ready(self) -> bool:
        try:
            return bool(await self._storage.check())
        except Exception:  # readiness reports the failure instead of raising it
            return False


def _async_url(url: str) -> str:
    # `limits` picks its asyncio Redis client by the async+ scheme prefix.
    return url if url.startswith("async+") else f"async+{url}"
