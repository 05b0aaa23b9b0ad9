"""Allowed, denied and review requests under the 2024-11 pack, end to end over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from aupgate.gateway.service import INLINE_CLASSIFY_CHARS
from conftest import Env


def test_lockheed_national_security_military_is_allowed_and_forwarded(env: Env) -> None:
    r = env.chat(env.keys.lockheed, "Plan logistics for TANKS", purpose="national-security")
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == env.upstream.answer
    decision_id = r.headers["X-AUP-Decision-Id"]
    decisions = env.entries("decision")
    assert decisions[0]["decision_id"] == decision_id
    assert decisions[0]["outcome"] == "allow"
    assert decisions[0]["org"]["name"] == "Lockheed Martin"
    assert len(env.upstream.bodies) == 1


def _error(r: httpx.Response) -> dict[str, Any]:
    error = r.json()["error"]
    assert isinstance(error, dict)
    return error


def test_lockheed_military_under_general_purpose_is_denied_with_citations(env: Env) -> None:
    r = env.chat(env.keys.lockheed, "Plan logistics for TANKS", purpose="general")
    assert r.status_code == 403
    error = _error(r)
    assert error["type"] == "policy_violation"
    assert error["code"] == "aup_denied"
    assert [c["category"] for c in error["categories"]] == ["military-warfare"]
    assert any("§2.1" in rule["citation"] for rule in error["rules"])
    assert "national-security exception" in str(error["message"])
    assert env.upstream.bodies == []  # nothing reached the model
    (decision,) = env.entries("decision")
    assert decision["decision_id"] == error["decision_id"]
    assert decision["outcome"] == "deny"


def test_startup_may_not_declare_national_security(env: Env) -> None:
    r = env.chat(env.keys.startup, "Plan logistics for TANKS", purpose="national-security")
    assert r.status_code == 403
    assert _error(r)["code"] == "purpose_not_allowed"
    assert "software-development, general" in str(_error(r)["message"])
    assert env.upstream.bodies == []
    assert env.entries("decision") == []  # refused before any decision


def test_startup_military_request_is_denied_under_its_default_purpose(env: Env) -> None:
    r = env.chat(env.keys.startup, "Plan logistics for TANKS")
    assert r.status_code == 403
    assert _error(r)["code"] == "aup_denied"
    assert env.entries("decision")[0]["purpose"] == "general"
    assert env.upstream.bodies == []


def test_startup_benign_request_is_allowed(env: Env) -> None:
    r = env.chat(env.keys.startup, "Write a unit test for a parser", "software-development")
    assert r.status_code == 200
    assert env.entries("decision")[0]["outcome"] == "allow"


def test_french_ministry_is_outside_the_exception(env: Env) -> None:
    r = env.chat(env.keys.ministry, "Plan logistics for TANKS")  # key default: national-security
    assert r.status_code == 403
    error = _error(r)
    assert error["code"] == "aup_denied"
    decision = env.entries("decision")[0]
    assert decision["org"]["country"] == "FR"
    assert decision["purpose"] == "national-security"
    assert env.upstream.bodies == []


def test_uncertain_score_asks_for_review(env: Env) -> None:
    r = env.chat(env.keys.startup, "is this MAYBEHACK thing ok", "software-development")
    assert r.status_code == 403
    error = _error(r)
    assert error["code"] == "aup_review_required"
    assert error["review_id"] == error["decision_id"]
    assert env.entries("decision")[0]["outcome"] == "review"
    assert env.upstream.bodies == []


def test_purpose_from_metadata_is_used_and_not_forwarded(env: Env) -> None:
    r = env.chat(
        env.keys.lockheed,
        "Plan logistics for TANKS",
        metadata={"aup_purpose": "national-security", "trace": "x1"},
        frobnicate={"unknown": True},
    )
    assert r.status_code == 200, r.text
    (forwarded,) = env.upstream.bodies
    assert forwarded["metadata"] == {"trace": "x1"}
    assert forwarded["frobnicate"] == {"unknown": True}


def test_conflicting_purposes_are_rejected(env: Env) -> None:
    r = env.chat(
        env.keys.lockheed, "hello", purpose="general", metadata={"aup_purpose": "national-security"}
    )
    assert r.status_code == 400
    assert "disagree" in str(_error(r)["message"])


def test_missing_purpose_without_default_is_rejected(env: Env) -> None:
    r = env.chat(env.keys.lockheed, "hello")
    assert r.status_code == 400
    assert "X-AUP-Purpose" in str(_error(r)["message"])


def test_unknown_purpose_is_rejected(env: Env) -> None:
    r = env.chat(env.keys.lockheed, "hello", purpose="world-domination")
    assert r.status_code == 400
    assert "unknown purpose" in str(_error(r)["message"])


def test_assistant_turns_are_not_classified_as_the_ask(env: Env) -> None:
    body = {
        "model": "llama",
        "messages": [
            {"role": "assistant", "content": "TANKS"},
            {"role": "user", "content": [{"type": "text", "text": "thanks, bye"}]},
        ],
    }
    r = env.post("/v1/chat/completions", body, env.keys.startup)
    assert r.status_code == 200, r.text


def test_completions_route_is_decided_too(env: Env) -> None:
    body = {"model": "llama", "prompt": "Plan logistics for TANKS"}
    r = env.post("/v1/completions", body, env.keys.startup)
    assert r.status_code == 403
    body["prompt"] = "Once upon a time"
    r = env.post("/v1/completions", body, env.keys.startup)
    assert r.status_code == 200
    assert r.json()["choices"][0]["text"] == env.upstream.answer


def test_non_streaming_answer_with_prohibited_output_is_filtered(env: Env) -> None:
    env.upstream.answer = "Sure, here is how to write MALWARE that spreads"
    r = env.chat(env.keys.startup, "Write a helper", "software-development")
    assert r.status_code == 200
    data = r.json()
    assert data["choices"][0]["finish_reason"] == "content_filter"
    assert data["choices"][0]["message"]["content"] is None
    assert "MALWARE" not in r.text
    aup = data["aupgate"]
    assert aup["outcome"] == "deny" and aup["stage"] == "output"
    outcomes = [(d["decision_id"], d["outcome"]) for d in env.entries("decision")]
    assert outcomes == [(r.headers["X-AUP-Decision-Id"], "allow"), (aup["decision_id"], "deny")]


def test_clean_answer_needs_no_decision_of_its_own(env: Env) -> None:
    r = env.chat(env.keys.startup, "Write a helper", "software-development")
    assert r.json()["choices"][0]["message"]["content"] == env.upstream.answer
    assert [d["outcome"] for d in env.entries("decision")] == ["allow"]


def test_answer_in_an_excepted_category_is_decided_allowed_and_recorded(env: Env) -> None:
    env.upstream.answer = "Route the TANKS through the northern pass"
    r = env.chat(env.keys.lockheed, "Plan logistics for TANKS", purpose="national-security")
    assert r.content.decode().count("TANKS") == 1
    assert r.json()["choices"][0]["finish_reason"] == "stop"
    decisions = env.entries("decision")
    assert [d["outcome"] for d in decisions] == ["allow", "allow"]
    assert decisions[1]["considered"] == ["military-warfare"]
    assert decisions[1]["prompt_digest"] == env.runtime.audit.prompt_digest(env.upstream.answer)


def test_long_conversation_is_classified_off_the_event_loop_and_still_decided(env: Env) -> None:
    # Longer than INLINE_CLASSIFY_CHARS: classified in a worker thread, same verdict.
    filler = "Here is some background on our quarterly planning. " * 60
    assert len(filler) > INLINE_CLASSIFY_CHARS
    r = env.chat(env.keys.startup, filler + "Plan logistics for TANKS")
    assert r.status_code == 403
    assert _error(r)["code"] == "aup_denied"
    assert env.upstream.bodies == []
    benign = env.chat(env.keys.startup, filler, "software-development")
    assert benign.status_code == 200
    assert [d["outcome"] for d in env.entries("decision")] == ["deny", "allow"]


def test_a_staged_classifier_runs_its_second_stage_off_the_event_loop(env: Env) -> None:
    r = env.chat(env.keys.startup, "SECONDSTAGE Plan logistics for TANKS")
    assert r.status_code == 403
    assert _error(r)["code"] == "aup_denied"
    ((first, second),) = env.classifier.stage_threads
    assert first != second  # the first stage ran on the loop, the rest in a worker thread
    assert env.chat(env.keys.startup, "Plan a birthday party").status_code == 200
    assert len(env.classifier.stage_threads) == 1
    assert [d["outcome"] for d in env.entries("decision")] == ["deny", "allow"]
