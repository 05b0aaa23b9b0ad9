"""Several writer processes on one store, and a writer killed with SIGKILL under load.

`store_url` (tests/conftest.py) runs each test on SQLite and, with AUPGATE_TEST_POSTGRES=1,
on PostgreSQL in a fresh schema.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from aupgate.audit import open_audit_log
from aupgate.audit.verify import verify_export
from aupgate.config import Settings
from aupgate.store.db import migrate, open_engine

WORKER = Path(__file__).with_name("append_worker.py")


def _spawn(home: Path, url: str, count: int, threads: int, out: Path) -> subprocess.Popen[bytes]:
    args = [str(home), url, str(count), str(threads), str(out)]
    return subprocess.Popen([sys.executable, str(WORKER), *args], stderr=subprocess.PIPE)


def _indices(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().splitlines() if line.strip()]


def test_writer_processes_share_one_log_without_gaps_or_forks(
    tmp_path: Path, store_url: str, settings_factory: Callable[..., Settings]
) -> None:
    home = tmp_path / "home"
    settings = settings_factory(home, database_url=store_url)
    engine = open_engine(store_url)
    migrate(engine)
    open_audit_log(engine, settings).close()  # create the keys once, as a deployment would
    outs = [tmp_path / f"out{i}" for i in range(4)]
    procs = [_spawn(home, store_url, 200, 4, out) for out in outs]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()
    per_process = [_indices(o) for o in outs]
    everything = sorted(i for indices in per_process for i in indices)
    assert everything == list(range(800))  # no gap, no duplicate
    log = open_audit_log(engine, settings)  # start-up consistency check passes
    assert log.size == 800
    log.export(tmp_path / "export")
    report = verify_export(tmp_path / "export", log.verifier.vkey)
    assert report.ok, report.problems
    log.close()
    engine.dispose()


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_entries SET entry_type = 'x'", "DELETE FROM audit_entries"]
)
def test_triggers_refuse_changes_on_every_backend(
    tmp_path: Path, store_url: str, statement: str, settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory(tmp_path, database_url=store_url)
    engine = open_engine(store_url)
    migrate(engine)
    log = open_audit_log(engine, settings)
    log.append("decision", {"decision_id": "d-1", "outcome": "deny"})
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    assert log.size == 1
    log.close()
    engine.dispose()


@pytest.mark.slow
def test_kill_9_under_load_loses_no_returned_entry(
    tmp_path: Path, settings_factory: Callable[..., Settings]
) -> None:
    home = tmp_path / "home"
    url = f"sqlite:///{tmp_path / 'aupgate.db'}"
    settings = settings_factory(home, database_url=url)
    out = tmp_path / "returned"
    proc = _spawn(home, url, 1_000_000, 16, out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or len(_indices(out)) < 3000):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    returned = _indices(out)
    assert len(returned) >= 3000
    engine = open_engine(url)
    log = open_audit_log(engine, settings)  # refuses to start if the tree were damaged
    assert max(returned) < log.size
    for index in returned[-50:]:
        assert log.resolve(index)[0] == index
    log.export(tmp_path / "export")
    report = verify_export(tmp_path / "export", log.verifier.vkey)
    assert report.ok, report.problems
    assert report.entries == log.size >= len(returned)
    log.close()
    engine.dispose()
