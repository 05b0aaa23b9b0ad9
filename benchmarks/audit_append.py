"""Durable appends per second on SQLite (WAL, synchronous=FULL) with group commit.

Each appender is a thread calling `AuditLog.append` and waiting for its receipt (the entry
is committed and fsynced before the call returns). Run from the repository root:

    .venv/bin/python -m benchmarks.audit_append
"""

from __future__ import annotations

import multiprocessing
import shutil
import statistics
import threading
import time
from pathlib import Path

from aupgate.audit import open_audit_log
from aupgate.config import Settings
from aupgate.store.db import open_engine
from benchmarks.audit_common import db_bytes, decision_record, fresh_log

RUNS = ((1, 3_000), (8, 20_000), (32, 40_000), (128, 60_000))
PROCESS_RUNS = ((4, 8, 20_000),)  # processes, threads each, entries in all


def run(appenders: int, total: int) -> tuple[float, float, float, int]:
    log, engine, home = fresh_log()
    records = [decision_record(i) for i in range(total)]
    latencies: list[float] = []
    lock = threading.Lock()
    per = total // appenders

    def work(k: int) -> None:
        mine: list[float] = []
        for record in records[k * per : (k + 1) * per]:
            t0 = time.perf_counter()
            log.append("decision", record)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(appenders)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    log.close()
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    size = db_bytes(home)
    engine.dispose()
    shutil.rmtree(home)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    return per * appenders / elapsed, statistics.median(latencies), p99, size // (per * appenders)


def _process(
    home: str,
    threads: int,
    count: int,
    start: float,
    out: multiprocessing.Queue[tuple[float, float]],
) -> None:
    settings = Settings(home=Path(home), database_url=f"sqlite:///{Path(home) / 'aupgate.db'}")
    log = open_audit_log(open_engine(settings.database), settings)
    records = [decision_record(i) for i in range(count)]
    per = count // threads

    def work(k: int) -> None:
        for record in records[k * per : (k + 1) * per]:
            log.append("decision", record)

    time.sleep(max(0.0, start - time.time()))  # every process starts together
    t0 = time.time()
    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put((t0, time.time()))
    log.close()


def run_processes(processes: int, threads: int, total: int) -> float:
    log, engine, home = fresh_log()
    log.close()
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[tuple[float, float]] = ctx.Queue()
    start = time.time() + 8  # time to import and open in every child
    procs = [
        ctx.Process(target=_process, args=(str(home), threads, total // processes, start, out))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    spans = [out.get() for _ in procs]
    for p in procs:
        p.join()
    engine.dispose()
    shutil.rmtree(home)
    elapsed = max(end for _, end in spans) - min(begin for begin, _ in spans)
    return (total // processes) * processes / elapsed


def main() -> None:
    print(
        "| appenders | entries | durable appends/s | median latency | p99 latency | bytes/entry |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for appenders, total in RUNS:
        rate, median, p99, per_entry = run(appenders, total)
        print(
            f"| {appenders} | {total:,} | {rate:,.0f} | {median * 1e3:.2f} ms "
            f"| {p99 * 1e3:.2f} ms | {per_entry} |",
            flush=True,
        )
    print("\n| writer processes | threads each | entries | durable appends/s (all) |")
    print("|---:|---:|---:|---:|")
    for processes, threads, total in PROCESS_RUNS:
        rate = run_processes(processes, threads, total)
        print(f"| {processes} | {threads} | {total:,} | {rate:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
