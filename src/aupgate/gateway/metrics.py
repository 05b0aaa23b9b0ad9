"""Prometheus metrics: requests by outcome and category, per-stage latency, upstream errors.

Each app has its own registry, so several apps (tests, workers) never share counters.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

# From 0.1 ms (policy) to 30 s (a slow upstream).
_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "aupgate_requests",
            "Requests by route, outcome (allow, deny, review, or an error status) and category.",
            ["route", "outcome", "category"],
            registry=self.registry,
        )
        self._stages = Histogram(
            "aupgate_stage_seconds",
            "Latency of each pipeline stage.",
            ["stage"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._upstream_errors = Counter(
            "aupgate_upstream_errors",
            "Upstream failures by reason (connect, timeout, protocol, status).",
            ["reason"],
            registry=self.registry,
        )

    def request(self, route: str, outcome: str, categories: Iterable[str] = ("-",)) -> None:
        for category in categories:
            self._requests.labels(route, outcome, category).inc()

    def upstream_error(self, reason: str) -> None:
        self._upstream_errors.labels(reason).inc()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self._stages.labels(name).observe(time.perf_counter() - start)

    def render(self) -> bytes:
        return generate_latest(self.registry)
