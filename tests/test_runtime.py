"""The composition root end to end: changes and decisions land in the audit log first."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from aupgate.config import load_settings
from aupgate.decision import Classification
from aupgate.errors import AupgateError, InvalidInputError
from aupgate.policy.pack import resolve_pack_path
from aupgate.runtime import Runtime


def entries(rt: Runtime) -> list[dict[str, Any]]:
    return [json.loads(leaf) for _, leaf in rt.audit.tail(1000)]


def make(home: Path, **overrides: str) -> Runtime:
    return Runtime(load_settings(home=home).model_copy(update=overrides))


def test_changes_and_decisions_are_logged_in_order(tmp_path: Path) -> None:
    rt = make(tmp_path)
    try:
        now = rt.now()
        rt.registry.add_org("Acme", "US", "commercial", actor="alice", now=now)
        org = rt.registry.snapshot("Acme")
        decision = rt.pipeline.decide(
            org, "general", "llama", Classification.declared(["spam"]), prompt="buy now!!!"
        )
        logged = entries(rt)
        kinds = [(e["type"], e["record"].get("action")) for e in logged]
        assert kinds == [
            ("admin", "org.added"),
            ("admin", "pack.activated"),
            ("decision", None),
        ]
        record = logged[-1]["record"]
        assert record["decision_id"] == decision.decision_id
        assert record["outcome"] == "deny"
        assert record["pack"]["sha256"] == rt.pack.sha256
        # The log holds a keyed digest of the prompt, never the prompt.
        assert record["prompt_digest"] == rt.audit.prompt_digest("buy now!!!")
        assert "buy now" not in json.dumps(logged)
    finally:
        rt.close()


def test_changing_the_active_pack_is_recorded_once(tmp_path: Path) -> None:
    for pack in ("llama-aup-2024-11", "llama-aup-2024-11", "llama-aup-2024-07"):
        rt = make(tmp_path, pack=pack)
        try:
            rt.pipeline  # noqa: B018 - building the pipeline notes the active pack
        finally:
            rt.close()
    rt = make(tmp_path)
    try:
        activated = [e["record"]["subject"] for e in entries(rt) if e["type"] == "admin"]
        assert activated == ["llama-aup-2024-11", "llama-aup-2024-07"]
    finally:
        rt.close()


def test_a_decision_that_cannot_be_recorded_is_not_returned(tmp_path: Path) -> None:
    rt = make(tmp_path)
    try:
        rt.registry.add_org("Acme", "US", "commercial", actor="alice", now=rt.now())
        org = rt.registry.snapshot("Acme")
        pipeline = rt.pipeline
        rt.audit.close(checkpoint=False)
        with pytest.raises(AupgateError):
            pipeline.decide(org, "general", "llama", Classification.declared([]))
    finally:
        rt.__dict__.pop("audit", None)
        rt.close()


def retaining_pack(tmp_path: Path) -> str:
    """A copy of the 2024-11 pack whose retention rule keeps prompt text."""
    target = tmp_path / "retaining-pack"
    shutil.copytree(resolve_pack_path("llama-aup-2024-11"), target)
    meta = target / "pack.toml"
    meta.write_text(meta.read_text().replace("store_prompt = false", "store_prompt = true"))
    return str(target)


def test_retained_prompts_are_sealed_and_need_the_key(tmp_path: Path) -> None:
    pack = retaining_pack(tmp_path)
    rt = make(tmp_path / "with-key", pack=pack, audit_prompt_key="ab" * 32)
    try:
        rt.registry.add_org("Acme", "US", "commercial", actor="alice", now=rt.now())
        org = rt.registry.snapshot("Acme")
        decision = rt.pipeline.decide(
            org, "general", "llama", Classification.declared([]), prompt="hello there"
        )
        assert rt.audit.reveal_prompt(decision.decision_id) == "hello there"
        assert "hello there" not in json.dumps(entries(rt))
    finally:
        rt.close()
    rt = make(tmp_path / "no-key", pack=pack)
    try:
        rt.registry.add_org("Acme", "US", "commercial", actor="alice", now=rt.now())
        org = rt.registry.snapshot("Acme")
        with pytest.raises(AupgateError, match="no prompt encryption key"):
            rt.pipeline.decide(org, "general", "llama", Classification.declared([]), prompt="hi")
        assert [e["type"] for e in entries(rt)] == ["admin", "admin"]
    finally:
        rt.close()


def test_a_malformed_prompt_key_is_a_precise_settings_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUPGATE_AUDIT_PROMPT_KEY", "not-hex")
    with pytest.raises(InvalidInputError, match="audit_prompt_key"):
        load_settings(home=tmp_path)


def test_the_classifier_second_stage_can_be_switched_off(tmp_path: Path) -> None:
    rt = Runtime(load_settings(home=tmp_path).model_copy(update={"classifier_second_stage": False}))
    try:
        assert rt.classifier.identity.version.endswith("without its second stage")
    finally:
        rt.close()
    rt = make(tmp_path)
    try:
        assert "without" not in rt.classifier.identity.version
    finally:
        rt.close()
