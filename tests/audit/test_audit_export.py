"""Export and offline verification, and every kind of tampering named at the right place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aupgate.audit import AuditLog, VerificationError, admin_body, verify
from aupgate.audit.note import Signer
from aupgate.audit.verify import verify_export

N = 250  # checkpoints every 100 entries (conftest) plus a final one at 250


@pytest.fixture(autouse=True, params=[3, 14], ids=["chunks-of-8", "chunks-of-16384"])
def chunking(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every check with chunk boundaries inside the log and with one chunk for all."""
    monkeypatch.setattr(verify, "CHUNK_LEVEL", request.param)
    monkeypatch.setattr(verify, "CHUNK", 1 << request.param)


@pytest.fixture
def export(audit: AuditLog, tmp_path: Path) -> Path:
    items = [
        audit.prepare("admin", admin_body("org.updated", "alice", f"org-{i}", {"n": i}))
        for i in range(N)
    ]
    for start in range(0, N, 50):  # one transaction per 50: checkpoints land at 100 and 200
        audit.append_many(items[start : start + 50])
    directory = tmp_path / "export"
    final = audit.export(directory)
    assert final.size == N
    return directory


def vkey(directory: Path) -> str:
    return (directory / "log.vkey").read_text()


def lines(directory: Path) -> list[bytes]:
    return (directory / "entries.jsonl").read_bytes().splitlines(keepends=True)


def write_lines(directory: Path, items: list[bytes]) -> None:
    (directory / "entries.jsonl").write_bytes(b"".join(items))


def test_untouched_export_verifies(export: Path) -> None:
    report = verify_export(export, vkey(export))
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints, report.size) == (N, 3, N)


def test_wrong_key_fails_every_checkpoint(export: Path) -> None:
    other = Signer.generate("test.example/audit").verifier.vkey
    report = verify_export(export, other)
    assert not report.ok
    assert "no signature by key" in report.problems[0].what


def test_changed_byte_is_named(export: Path) -> None:
    items = lines(export)
    items[42] = items[42].replace(b"org-42", b"org-4X")
    write_lines(export, items)
    report = verify_export(export, vkey(export))
    assert report.first_bad_index == 42
    assert "altered" in report.problems[0].what


def test_changed_byte_with_rewritten_hints_is_bounded_by_checkpoints(export: Path) -> None:
    items = lines(export)
    items[142] = items[142].replace(b"org-142", b"org-14X")
    write_lines(export, items)
    (export / "leaf-hashes.bin").unlink()  # the attacker removes the per-entry hints
    report = verify_export(export, vkey(export))
    assert report.first_bad_index == 100  # the signed roots bound it to entries 100..199
    assert report.problems[0].checkpoint == 200


def test_deleted_entry_is_named(export: Path) -> None:
    items = lines(export)
    del items[77]
    write_lines(export, items)
    report = verify_export(export, vkey(export))
    assert report.first_bad_index == 77
    assert "missing" in report.problems[0].what


def test_swapped_entries_are_named(export: Path) -> None:
    items = lines(export)
    items[10], items[20] = items[20], items[10]
    write_lines(export, items)
    report = verify_export(export, vkey(export))
    assert report.first_bad_index == 10
    assert "out of order" in report.problems[0].what


def test_inserted_entry_is_named(export: Path) -> None:
    items = lines(export)
    forged = items[5].replace(b"org-5", b"org-X")
    items.insert(6, forged.replace(b'"index":5,', b'"index":6,'))
    write_lines(export, items)
    report = verify_export(export, vkey(export))
    assert report.first_bad_index == 6


def test_truncated_log_is_named(export: Path) -> None:
    write_lines(export, lines(export)[:230])
    report = verify_export(export, vkey(export))
    assert report.first_bad_index == 230
    assert "truncated" in report.problems[0].what


def test_replaced_checkpoint_is_named(export: Path) -> None:
    forger = Signer.generate("test.example/audit")
    fake = forger.sign(f"test.example/audit\n100\n{'A' * 43}=\n")
    (export / "checkpoints" / "100").write_text(fake)
    report = verify_export(export, vkey(export))
    assert [p.checkpoint for p in report.problems][:1] == [100]


def test_checkpoint_moved_to_another_size_is_named(export: Path) -> None:
    cps = export / "checkpoints"
    (cps / "100").write_text((cps / "200").read_text())
    report = verify_export(export, vkey(export))
    assert report.problems[0].checkpoint == 100
    assert "holds a checkpoint of size 200" in report.problems[0].what


def test_entries_appended_after_the_last_checkpoint_are_not_trusted(export: Path) -> None:
    items = lines(export)
    items.append(items[-1].replace(f'"index":{N - 1},'.encode(), f'"index":{N},'.encode()))
    write_lines(export, items)
    (export / "leaf-hashes.bin").unlink()
    report = verify_export(export, vkey(export))
    assert report.first_bad_index == N


def test_broken_consistency_proof_is_named(export: Path) -> None:
    path = export / "consistency.jsonl"
    proofs = [json.loads(line) for line in path.read_text().splitlines()]
    proofs[1]["hashes"][0] = "00" * 32
    path.write_text("".join(json.dumps(p) + "\n" for p in proofs))
    report = verify_export(export, vkey(export))
    assert report.problems[0].checkpoint == 250


def test_not_an_export(tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match="not an audit export"):
        verify_export(tmp_path, Signer.generate("x").verifier.vkey)


def test_export_refuses_a_non_empty_directory(audit: AuditLog, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(Exception, match="not empty"):
        audit.export(tmp_path / "busy")


def test_missing_checkpoint_is_named(export: Path) -> None:
    (export / "checkpoints" / "200").unlink()
    report = verify_export(export, vkey(export))
    assert report.problems[0].checkpoint == 200
    assert "missing" in report.problems[0].what


def test_malformed_consistency_file_is_reported(export: Path) -> None:
    (export / "consistency.jsonl").write_text("{not json\n")
    report = verify_export(export, vkey(export))
    assert "malformed" in report.problems[0].what


def test_an_empty_log_exports_and_verifies(audit: AuditLog, tmp_path: Path) -> None:
    final = audit.export(tmp_path / "empty")
    assert final.size == 0
    report = verify_export(tmp_path / "empty", vkey(tmp_path / "empty"))
    assert report.ok, report.problems
    assert (report.entries, report.checkpoints) == (0, 1)
