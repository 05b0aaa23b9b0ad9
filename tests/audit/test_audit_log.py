"""The stored log: appends, receipts, checkpoints, proofs, restart, triggers, prompts."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import rfc8785
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError

from aupgate.audit import (
    AuditError,
    AuditLog,
    admin_body,
    decision_body,
    open_audit_log,
    refusal_body,
)
from aupgate.audit.entries import encode_entry, index_of
from aupgate.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from aupgate.audit.model import Checkpoint
from aupgate.config import Settings
from aupgate.errors import InvalidInputError, NotFoundError
from aupgate.ids import new_decision_id


def decision(i: int, outcome: str = "deny") -> dict[str, Any]:
    return {
        "decision_id": new_decision_id(),
        "time": "2026-11-28T04:00:00+00:00",
        "outcome": outcome,
        "org": {"id": f"org-{i % 7}", "country": "US", "sector": "government", "vetted": True},
        "key_id": f"key-{i}",
        "purpose": "research",
        "model": "llama",
        "categories": [{"category": "weapons", "score": 0.91}],
        "rules": [{"policy_id": "forbid-weapons", "effect": "forbid"}],
        "pack": {"name": "llama-aup-2024-11", "version": "1", "sha256": "ab" * 32},
        "classifier": {"backend": "declared", "version": "-", "artefact_sha256": "-"},
        "errors": [],
    }


def test_entry_splice_equals_canonicalising_the_whole_object() -> None:
    record: Any = {"b": [1, 2.5, "é\u2028"], "a": {"z": None, "y": True}}
    data = encode_entry("abc", 17, rfc8785.dumps(record), "2026-01-01T00:00:00.000+00:00", "admin")
    whole: Any = {
        "entry_id": "abc",
        "index": 17,
        "record": record,
        "time": "2026-01-01T00:00:00.000+00:00",
        "type": "admin",
        "v": 1,
    }
    assert data == rfc8785.dumps(whole)
    assert index_of(data) == 17


def test_decision_ids_are_time_ordered_uuid7() -> None:
    ids = [new_decision_id() for _ in range(50)]
    assert all(i[14] == "7" and i[19] in "89ab" for i in ids)
    assert len(set(ids)) == 50
    assert ids[0][:13] <= ids[-1][:13]


def test_append_returns_durable_receipts_and_show_reads_them(audit: AuditLog) -> None:
    body = decision_body(decision(0), audit.prompt_digest("how do I build a rifle"))
    receipt = audit.append("decision", body)
    assert receipt.index == 0
    assert receipt.entry_id == body["decision_id"]
    index, data = audit.resolve(receipt.entry_id)
    assert index == 0
    assert leaf_hash(data) == receipt.leaf_hash
    entry = json.loads(data)
    assert entry["record"]["prompt_digest"] == audit.prompt_digest("how do I build a rifle")
    assert entry["type"] == "decision"
    admin = audit.append("admin", admin_body("grant.issued", "alice", "org-1", {"x": 1}))
    assert admin.index == 1
    assert audit.resolve(1)[0] == 1


def test_bad_entries_are_refused(audit: AuditLog) -> None:
    with pytest.raises(InvalidInputError):
        audit.append("gossip", {})
    with pytest.raises(InvalidInputError):
        admin_body("org.deleted", "alice", "org-1", {})
    with pytest.raises(InvalidInputError):
        audit.append("decision", {**decision(0), "score": float("nan")})
    body = decision(1)
    audit.append("decision", body)
    with pytest.raises(AuditError, match="already logged"):
        audit.append("decision", body)
    assert audit.size == 1


def test_group_commit_many_threads_get_distinct_contiguous_indices(audit: AuditLog) -> None:
    receipts: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(50):
            r = audit.append("decision", decision(n * 100 + i))
            with lock:
                receipts.append(r.index)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(receipts) == list(range(800))
    assert audit.size == 800


def test_append_async(audit: AuditLog) -> None:
    async def main() -> list[int]:
        rs = await asyncio.gather(*(audit.append_async("decision", decision(i)) for i in range(20)))
        return [r.index for r in rs]

    assert sorted(asyncio.run(main())) == list(range(20))


def test_checkpoints_every_n_entries_and_proofs_verify(audit: AuditLog) -> None:
    receipts = [audit.append("decision", decision(i)) for i in range(250)]
    cp = audit.latest_checkpoint()
    assert cp is not None and cp.size == 200  # every 100 entries
    assert Checkpoint.open(cp.note, audit.verifier) == cp
    proof = audit.prove_inclusion(receipts[137].entry_id)
    assert proof.checkpoint.size == 200
    assert verify_inclusion(137, 200, receipts[137].leaf_hash, proof.hashes, cp.root)
    proof.verify(audit.verifier)
    older = audit.prove_inclusion(5, checkpoint_size=100)
    assert older.checkpoint.size == 100
    with pytest.raises(AuditError, match="not covered"):
        audit.prove_inclusion(220)
    c = audit.prove_consistency(100, 200)
    assert c.old_root == audit.checkpoint_at(100).root
    assert verify_consistency(100, 200, c.hashes, c.old_root, cp.root)
    with pytest.raises(NotFoundError):
        audit.prove_inclusion("no-such-entry")


def test_explicit_checkpoint_and_close_checkpoint(engine: Engine, settings: Settings) -> None:
    log = open_audit_log(engine, settings)
    for i in range(7):
        log.append("decision", decision(i))
    cp = log.checkpoint()
    assert cp.size == 7
    assert log.checkpoint() == cp  # nothing new: same checkpoint
    log.append("decision", decision(8))
    log.close()
    again = open_audit_log(engine, settings)
    latest = again.latest_checkpoint()
    assert latest is not None and latest.size == 8
    again.close()


def test_checkpoint_after_t_seconds_without_appends(engine: Engine, settings: Settings) -> None:
    fast = settings.model_copy(update={"audit_checkpoint_seconds": 0.2})
    log = open_audit_log(engine, fast)
    log.append("decision", decision(0))  # first batch: the last checkpoint is older than T
    log.append("decision", decision(1))
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while datetime.now(UTC) < deadline:
        cp = log.latest_checkpoint()
        if cp is not None and cp.size == 2:
            break
        threading.Event().wait(0.05)
    cp = log.latest_checkpoint()
    assert cp is not None and cp.size == 2
    log.close()


def test_restart_reads_edge_not_the_whole_log(engine: Engine, settings: Settings) -> None:
    log = open_audit_log(engine, settings)
    log.append_many([log.prepare("decision", decision(i)) for i in range(3000)])
    log.close()
    statements: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        statements.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        again = open_audit_log(engine, settings)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    entry_reads = [(s, p) for s, p in statements if "FROM audit_entries" in s]
    # The only read of entries is the replay from the last checkpoint, which is the head.
    assert len(entry_reads) == 1 and "idx >=" in entry_reads[0][0]
    assert 3000 in tuple(entry_reads[0][1])
    assert len(statements) < 20
    assert again.append("decision", decision(9999)).index == 3000
    again.close()


def test_start_up_refuses_a_tree_that_does_not_extend_its_checkpoint(
    engine: Engine, settings: Settings
) -> None:
    log = open_audit_log(engine, settings)
    for i in range(10):
        log.append("decision", decision(i))
    log.close()
    with engine.begin() as conn:  # an attacker with database access, triggers dropped
        conn.execute(text("DROP TRIGGER audit_entries_no_update"))
        conn.execute(text("DROP TRIGGER audit_nodes_no_update"))
        # leaf 3 is off the right edge: start-up does not read it, a proof through it must fail
        conn.execute(text("UPDATE audit_nodes SET hash = zeroblob(32) WHERE id = 3"))
    reopened = open_audit_log(engine, settings)
    with pytest.raises(AuditError, match="damaged"):
        reopened.prove_inclusion(2)
    reopened.close()
    with engine.begin() as conn:  # the perfect subtree of leaves 0..7 is on the edge of 10
        conn.execute(text(f"UPDATE audit_nodes SET hash = zeroblob(32) WHERE id = {3 << 56}"))
    with pytest.raises(AuditError, match="does not match its checkpoint"):
        open_audit_log(engine, settings)


def test_start_up_refuses_an_altered_entry_since_the_checkpoint(
    engine: Engine, settings: Settings
) -> None:
    log = open_audit_log(engine, settings)
    log.append("decision", decision(0))
    log.checkpoint()
    log.append("decision", decision(1))
    log.close(checkpoint=False)
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_entries_no_update"))
        conn.execute(
            text(
                "UPDATE audit_entries SET data = "
                "CAST(replace(CAST(data AS TEXT), 'deny', 'allw') AS BLOB) WHERE idx = 1"
            )
        )
    with pytest.raises(AuditError, match="does not match its entries"):
        open_audit_log(engine, settings)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET entry_type = 'admin'",
        "DELETE FROM audit_entries",
        "UPDATE audit_nodes SET hash = x''",
        "DELETE FROM audit_nodes",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_checkpoints SET note = ''",
    ],
)
def test_triggers_refuse_update_and_delete(audit: AuditLog, engine: Engine, statement: str) -> None:
    for i in range(3):
        audit.append("decision", decision(i))
    audit.checkpoint()
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    assert audit.size == 3


def test_prompt_text_is_sealed_and_purgeable_without_breaking_the_tree(audit: AuditLog) -> None:
    prompt = "explain the rules of engagement"
    body = decision_body(decision(0), audit.prompt_digest(prompt))
    r = audit.append("decision", body, prompt=prompt)
    assert audit.reveal_prompt(r.entry_id) == prompt
    _, data = audit.resolve(r.entry_id)
    assert prompt.encode() not in data
    assert audit.purge_prompts(datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert audit.reveal_prompt(r.entry_id) is None
    audit.checkpoint()
    audit.prove_inclusion(r.entry_id).verify(audit.verifier)


def test_prompt_retention_without_a_key_fails_closed(engine: Engine, settings: Settings) -> None:
    log = open_audit_log(engine, settings.model_copy(update={"audit_prompt_key": None}))
    with pytest.raises(AuditError, match="no prompt encryption key"):
        log.append("decision", decision(0), prompt="text")
    assert log.size == 0
    log.close()


def test_append_after_close_is_refused(audit: AuditLog) -> None:
    audit.close()
    with pytest.raises(AuditError, match="closed"):
        audit.append("decision", decision(0))


def test_a_failing_store_refuses_the_append(audit: AuditLog, engine: Engine) -> None:
    audit.append("decision", decision(0))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE audit_prompts"))
    with pytest.raises(AuditError, match="append failed"):
        audit.append("decision", decision(1), prompt="kept")
    assert audit.size == 1
    assert audit.append("decision", decision(2)).index == 1


def test_an_unexpected_writer_failure_still_answers_every_caller(
    audit: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_items: object) -> list[object]:
        raise RuntimeError("bug")

    monkeypatch.setattr(audit, "write_batch", broken)
    with pytest.raises(AuditError, match="append failed: bug"):
        audit.append("decision", decision(0))
    monkeypatch.undo()
    assert audit.append("decision", decision(1)).index == 0


def test_refusals_are_logged_under_their_decision_id(audit: AuditLog) -> None:
    decision_id = new_decision_id()
    body = refusal_body(decision_id, "classify", "classifier timed out", {"model": "llama"}, None)
    receipt = audit.append("refusal", body)
    assert receipt.entry_id == decision_id
    entry = json.loads(audit.resolve(decision_id)[1])
    assert entry["type"] == "refusal"
    assert entry["record"]["stage"] == "classify"
    with pytest.raises(InvalidInputError):
        refusal_body("bad id with spaces", "classify", "x", {}, None)


def test_a_missing_node_fails_the_proof_not_the_process(audit: AuditLog, engine: Engine) -> None:
    for i in range(8):
        audit.append("decision", decision(i))
    audit.checkpoint()
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_nodes_no_delete"))
        conn.execute(text("DELETE FROM audit_nodes WHERE id = 3"))  # leaf 3, sibling of leaf 2
    with pytest.raises(AuditError, match="damaged: stored tree lacks node level=0 index=3"):
        audit.prove_inclusion(2)
    audit.prove_inclusion(5).verify(audit.verifier)
