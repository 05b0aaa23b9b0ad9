"""Proof times, bulk-load rate and disk per entry as the log grows from 10k to 10M entries.

The tree is built with the bulk path (`AuditLog.write_batch`, the same code the writer thread
runs, 4,096 entries per transaction) from small admin records (~230-byte leaves), so the
tree sizes are reachable in minutes; proof times depend on the tree, not on entry size. Sizes
that would not fit in the time budget (--budget seconds, default 900) are skipped and
said so. Run from the repository root:

    .venv/bin/python -m benchmarks.audit_proofs [--budget SECONDS] [--max SIZE]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import time
from collections.abc import Callable

from aupgate.audit import AuditLog, admin_body
from aupgate.audit.canonical import canonical
from aupgate.audit.merkle import consistency_plan, inclusion_plan, materialise
from aupgate.audit.storage.log import Prepared
from aupgate.audit.storage.nodes import fetcher
from aupgate.ids import new_decision_id
from benchmarks.audit_common import db_bytes, fresh_log

SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
CHUNK = 4096
SAMPLES = 1000


def load(log: AuditLog, start: int, stop: int) -> None:
    body = admin_body("org.updated", "bench", "org-0001", {"field": "vetted", "value": True})
    record = canonical(body)  # one canonical record, a fresh UUIDv7 per entry
    for lo in range(start, stop, CHUNK):
        items = [Prepared("admin", new_decision_id(), record) for _ in range(min(CHUNK, stop - lo))]
        log.write_batch(items)


def timed(fn: Callable[[int], object], args: list[int]) -> tuple[float, float]:
    times = []
    for a in args:
        t0 = time.perf_counter()
        fn(a)
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times) * 1e6, times[int(len(times) * 0.99)] * 1e6


def measure(log: AuditLog, size: int, rng: random.Random) -> dict[str, tuple[float, float]]:
    log.checkpoint()
    leaves = [rng.randrange(size) for _ in range(SAMPLES)]
    olds = [rng.randrange(1, size) for _ in range(SAMPLES)]
    engine = log.engine  # the raw path: plan, one node read, fold

    def raw_inclusion(i: int) -> None:
        with engine.connect() as conn:
            materialise(inclusion_plan(i, size), fetcher(conn))

    def raw_consistency(m: int) -> None:
        with engine.connect() as conn:
            materialise(consistency_plan(m, size), fetcher(conn))

    return {
        "prove_inclusion()": timed(lambda i: log.prove_inclusion(i), leaves),
        "prove_consistency()": timed(lambda m: log.prove_consistency(m, size), olds),
        "inclusion path only": timed(raw_inclusion, leaves),
        "consistency path only": timed(raw_consistency, olds),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=900.0, help="Seconds for loading.")
    parser.add_argument("--max", type=int, default=SIZES[-1], help="Largest tree size.")
    args = parser.parse_args()
    rng = random.Random(6962)
    log, engine, home = fresh_log(checkpoint_every=1_000_000_000)
    print(
        "| entries | load rate (entries/s) | disk bytes/entry | operation | median | p99 |\n"
        "|---:|---:|---:|---|---:|---:|"
    )
    loaded, spent = 0, 0.0
    skipped: list[int] = []
    for size in (s for s in SIZES if s <= args.max):
        rate = loaded / spent if spent else 0.0
        if rate and (size - loaded) / rate > args.budget - spent:
            skipped.append(size)
            continue
        t0 = time.perf_counter()
        load(log, loaded, size)
        spent += time.perf_counter() - t0
        loaded = size
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        per_entry = db_bytes(home) / size
        for name, (median, p99) in measure(log, size, rng).items():
            print(
                f"| {size:,} | {size / spent:,.0f} | {per_entry:.0f} | {name} "
                f"| {median:.0f} µs | {p99:.0f} µs |",
                flush=True,
            )
    if skipped:
        rate = loaded / spent
        eta = ", ".join(f"{s:,} (~{(s - loaded) / rate / 60:.0f} min more)" for s in skipped)
        print(f"\nskipped (over the {args.budget:.0f} s load budget at {rate:,.0f}/s): {eta}")
    log.close(checkpoint=False)
    engine.dispose()
    shutil.rmtree(home)


if __name__ == "__main__":
    main()
