"""A small time-bounded cache for credentials and organisation snapshots.

Looking up a key and its organisation costs a database round trip and a thread hop on every
request; within `ttl_s` (setting `auth_cache_s`, 0 disables) the answer is reused. The price is
that a revoked key or grant can still be honoured for up to `ttl_s` in a process.
"""

from __future__ import annotations

import time
from typing import Generic, TypeVar

V = TypeVar("V")


class TtlCache(Generic[V]):
    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._items: dict[str, tuple[float, V]] = {}

    def get(self, key: str) -> V | None:
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def put(self, key: str, value: V) -> V:
        if self._ttl > 0:
            if len(self._items) >= self._max:
                self._items.clear()  # crude, but bounded; entries are cheap to rebuild
            self._items[key] = (time.monotonic() + self._ttl, value)
        return value
