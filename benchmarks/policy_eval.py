"""Policy evaluation alone (no classification): latency per decision and batch throughput,
for 10 to 10,000 registered organisations. Run: python -m benchmarks.policy_eval

Targets (issue 2): p50 ≤ 60 µs per decision and ≥ 15,000 decisions/s on one core in batch
mode, flat from 10 to 10,000 organisations.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.table import Table

from aupgate.decision import (
    SECTORS,
    Classification,
    GrantSnapshot,
    OrgSnapshot,
    Principal,
    UseRequest,
    decide,
    decide_many,
)
from aupgate.policy.engine import CedarEngine
from aupgate.policy.pack import load_pack

NOW = datetime(2025, 6, 1, tzinfo=UTC)
COUNTRIES = ["US", "GB", "CA", "AU", "NZ", "FR", "DE", "JP", "CN", "IN", "BR"]
CATEGORIES = [[], ["military-warfare"], ["espionage"], ["spam"], ["nuclear", "weapons"]]
PURPOSES = ["national-security", "general", "research", "marketing"]


def make_orgs(n: int, rng: random.Random) -> list[OrgSnapshot]:
    grant = GrantSnapshot("national-security", NOW - timedelta(days=30), NOW + timedelta(days=300))
    return [
        OrgSnapshot(
            id=f"org-{i}",
            name=f"Org {i}",
            country=rng.choice(COUNTRIES),
            sector=rng.choice(SECTORS),
            vetted=rng.random() < 0.5,
            screening="hit" if rng.random() < 0.02 else "clear",
            grants=(grant,) if rng.random() < 0.3 else (),
        )
        for i in range(n)
    ]


def make_requests(orgs: list[OrgSnapshot], n: int, rng: random.Random) -> list[UseRequest]:
    return [
        UseRequest(
            Principal(rng.choice(orgs)),
            rng.choice(PURPOSES),
            "llama",
            Classification.declared(rng.choice(CATEGORIES)),
        )
        for _ in range(n)
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    engine = CedarEngine(load_pack("llama-aup-2024-11"))
    rng = random.Random(7)
    table = Table(title="Policy evaluation (llama-aup-2024-11, one core)", title_justify="left")
    for column in (
        "orgs",
        "store build ms",
        "single p50 µs",
        "single p99 µs",
        "batch µs/decision",
        "batch decisions/s",
        "uncached p50 µs",
    ):
        table.add_column(column, justify="right")
    for n in (10, 100, 1_000, 10_000):
        orgs = make_orgs(n, rng)
        t0 = time.perf_counter()
        engine.use_store(engine.build_store(orgs, NOW))
        build_ms = (time.perf_counter() - t0) * 1e3
        requests = make_requests(orgs, 10_000, rng)
        for r in requests[:500]:  # warm up
            decide(r, engine, NOW, "w")
        single = []
        for r in requests[:5_000]:
            t = time.perf_counter()
            decide(r, engine, NOW, "d")
            single.append((time.perf_counter() - t) * 1e6)
        ids = ["d"] * len(requests)
        batch_runs = []
        for _ in range(3):
            t = time.perf_counter()
            decide_many(requests, engine, NOW, ids)
            batch_runs.append(time.perf_counter() - t)
        per = statistics.median(batch_runs) / len(requests) * 1e6
        engine.use_store(None)
        uncached = []
        for r in requests[:1_000]:
            t = time.perf_counter()
            decide(r, engine, NOW, "d")
            uncached.append((time.perf_counter() - t) * 1e6)
        table.add_row(
            f"{n:,}",
            f"{build_ms:.1f}",
            f"{percentile(single, 0.5):.1f}",
            f"{percentile(single, 0.99):.1f}",
            f"{per:.1f}",
            f"{1e6 / per:,.0f}",
            f"{percentile(uncached, 0.5):.1f}",
        )
    Console().print(table)
    Console().print(
        "single: decide() per request with the registry's entity store; batch: decide_many() "
        "over 10,000 requests (median of 3); uncached: the snapshot parsed per request."
    )


if __name__ == "__main__":
    main()
