"""Child process for the multi-process and crash tests (run as a script, not imported).

usage: append_worker.py HOME DATABASE_URL COUNT THREADS OUT_FILE
Appends COUNT decision entries from THREADS threads and writes each returned index to
OUT_FILE, one per line, right after `append` returned (so a kill -9 leaves only indices
whose append had completed).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from aupgate.audit import decision_body, open_audit_log
from aupgate.config import Settings
from aupgate.ids import new_decision_id
from aupgate.store.db import migrate, open_engine


def main() -> None:
    home, url, count, threads, out = sys.argv[1:6]
    settings = Settings(
        home=Path(home),
        database_url=url,
        audit_origin="test.example/audit",
        audit_checkpoint_every=100,
    )
    engine = open_engine(url)
    migrate(engine)
    log = open_audit_log(engine, settings)
    lock = threading.Lock()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    per_thread = int(count) // int(threads)

    def work() -> None:
        for _ in range(per_thread):
            body = decision_body({"decision_id": new_decision_id(), "outcome": "allow"}, None)
            index = log.append("decision", body).index
            with lock:
                os.write(fd, f"{index}\n".encode())

    workers = [threading.Thread(target=work) for _ in range(int(threads))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    log.close()
    os.close(fd)


if __name__ == "__main__":
    main()
