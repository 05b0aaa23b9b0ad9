"""Offline verification speed of an export (`verify_export`), in entries per second.

Builds a log of decision-sized entries (~1.2 kB leaves) with the bulk path, a checkpoint
about every 10,000 entries, exports it and verifies the export. Run from the repository root:

    .venv/bin/python -m benchmarks.audit_verify [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import shutil
import time

from aupgate.audit.canonical import canonical
from aupgate.audit.storage.log import Prepared
from aupgate.audit.verify import verify_export
from aupgate.ids import new_decision_id
from benchmarks.audit_common import decision_record, fresh_log

CHUNK = 4096


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000", help="Comma-separated sizes.")
    args = parser.parse_args()
    print(
        "| entries | checkpoints | export bytes/entry | export time | verify time "
        "| verified entries/s |\n|---:|---:|---:|---:|---:|---:|"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        log, engine, home = fresh_log(checkpoint_every=10_000)
        record = canonical(decision_record(0))
        for lo in range(0, size, CHUNK):
            n = min(CHUNK, size - lo)
            log.write_batch([Prepared("decision", new_decision_id(), record) for _ in range(n)])
        out = home / "export"
        t0 = time.perf_counter()
        log.export(out)
        exported = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = verify_export(out, log.verifier.vkey)
        verified = time.perf_counter() - t0
        assert report.ok, report.problems
        per_entry = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / size
        print(
            f"| {size:,} | {report.checkpoints} | {per_entry:.0f} | {exported:.1f} s "
            f"| {verified:.1f} s | {size / verified:,.0f} |",
            flush=True,
        )
        log.close(checkpoint=False)
        engine.dispose()
        shutil.rmtree(home)


if __name__ == "__main__":
    main()
