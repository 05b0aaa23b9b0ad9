"""`aupgate audit ...` end to end through the real CLI app and a SQLite store."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aupgate.audit import admin_body, open_audit_log, refusal_body
from aupgate.cli import app
from aupgate.config import load_settings
from aupgate.ids import new_decision_id
from aupgate.runtime import Runtime

Run = Callable[..., str]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("AUPGATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AUPGATE_AUDIT_ORIGIN", "cli.test/audit")
    runner = CliRunner(env={"COLUMNS": "200"})  # Rich tables unwrapped

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["audit", *args])
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def test_cli_round_trip(run: Run, tmp_path: Path) -> None:
    vkey = run("keygen").splitlines()[0]
    assert vkey.startswith("cli.test/audit+")
    run("keygen", code=2)  # never replaces the key that signed the history
    runtime = Runtime(load_settings())
    log = open_audit_log(runtime.engine, runtime.settings)
    ids = [
        log.append("admin", admin_body("key.created", "bob", f"key-{i}", {})).entry_id
        for i in range(5)
    ]
    log.close(checkpoint=False)
    runtime.close()

    tail = [json.loads(line) for line in run("tail", "--json").splitlines()]
    assert [e["index"] for e in tail] == [0, 1, 2, 3, 4]
    assert "key-4" in run("tail")  # a wrapped Rich table
    assert json.loads(run("show", ids[2]))["record"]["subject"] == "key-2"
    assert "not covered" in run("prove", ids[2], code=2)
    note = run("checkpoint")
    assert note.startswith("cli.test/audit\n5\n")
    proof = json.loads(run("prove", ids[2]))
    assert proof["index"] == 2 and proof["tree_size"] == 5
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(json.dumps(proof))
    assert "OK: entry 2 is in checkpoint 5" in run("verify-proof", str(proof_file), "--key", vkey)
    proof["hashes"][0] = "00" * 32
    proof_file.write_text(json.dumps(proof))
    assert "not included" in run("verify-proof", str(proof_file), "--key", vkey, code=2)
    consistency = json.loads(run("consistency", "2", "5"))
    assert consistency["old_size"] == 2 and consistency["hashes"]
    out = tmp_path / "export"
    assert "exported 5 entries" in run("export", str(out))
    assert "OK: 5 entries" in run("verify", str(out), "--key", vkey)
    key_file = tmp_path / "trusted.vkey"
    key_file.write_text(vkey + "\n")
    entries = out / "entries.jsonl"
    entries.write_bytes(entries.read_bytes().replace(b"key-3", b"key-X"))
    failed = run("verify", str(out), "--key", str(key_file), "--json", code=1)
    assert json.loads(failed)["problems"][0]["index"] == 3


def test_a_missing_signing_key_is_never_silently_replaced(run: Run, tmp_path: Path) -> None:
    vkey = run("keygen").splitlines()[0]
    run("checkpoint")
    key_dir = tmp_path / "home" / "audit"
    (key_dir / "checkpoint.key").rename(tmp_path / "moved.key")
    assert "signing key" in run("tail", code=2) and "missing" in run("tail", code=2)
    assert not (key_dir / "checkpoint.key").exists()
    assert (key_dir / "checkpoint.vkey").read_text().strip() == vkey
    (tmp_path / "moved.key").rename(key_dir / "checkpoint.key")
    run("tail")
    (key_dir / "prompt-hmac.key").rename(tmp_path / "moved-hmac.key")
    assert "prompt digest secret" in run("tail", code=2)
    assert not (key_dir / "prompt-hmac.key").exists()
    (tmp_path / "moved-hmac.key").rename(key_dir / "prompt-hmac.key")
    (key_dir / "checkpoint.vkey").write_text(vkey.replace("+", "-") + "\n")
    assert "is not the verifier key" in run("tail", code=2)


def test_tail_summarises_refusals(run: Run) -> None:
    runtime = Runtime(load_settings())
    context = {"route": "/v1/chat/completions", "org": "Tiny Robotics", "key_id": "k1"}
    body = refusal_body(new_decision_id(), "classifier", "ClassifyError", context, None)
    runtime.audit.append("refusal", body)
    runtime.close()
    assert "refused Tiny Robotics at classifier: ClassifyError" in run("tail", "--count", "1")
