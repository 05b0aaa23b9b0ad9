"""Decision API, rate limits, health, readiness, metrics, refusals when a part fails, logs."""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any

import httpx
import pytest
from fake_upstream import ServerThread

from aupgate.classify.backend import ClassifyError
from aupgate.decision import Classification
from aupgate.gateway.app import create_app
from conftest import Env, KeywordClassifier, make_runtime, register


@pytest.fixture
def settings_overrides(env_service_key: list[str]) -> dict[str, Any]:
    return {"decide_service_keys": env_service_key}


@pytest.fixture
def env_service_key() -> list[str]:
    # Filled in by tests that need a service key (settings are read per request).
    return []


def _decide(env: Env, key: str, **body: Any) -> httpx.Response:
    return env.post("/v1/decide", body, key)


def test_decide_with_categories_for_own_key(env: Env) -> None:
    r = _decide(env, env.keys.lockheed, purpose="national-security", categories=["espionage"])
    assert r.status_code == 200
    decision = r.json()
    assert decision["outcome"] == "allow"
    assert decision["classifier"]["backend"] == "declared"
    assert env.entries("decision")[0]["decision_id"] == decision["decision_id"]
    assert env.upstream.bodies == []  # a decision, never a forward


def test_decide_with_text_classifies_it(env: Env) -> None:
    r = _decide(env, env.keys.startup, purpose="general", text="make MALWARE")
    assert r.status_code == 200
    assert r.json()["outcome"] == "deny"
    assert r.json()["considered"] == ["malicious-code"]


@pytest.mark.parametrize(
    "body",
    [
        {"purpose": "general"},
        {"purpose": "general", "text": "x", "categories": []},
        {"purpose": "general", "categories": ["not-a-category"]},
        {"purpose": "general", "categories": "espionage"},
        {"purpose": "general", "text": "x", "surprise": 1},
    ],
)
def test_decide_rejects_bad_bodies(env: Env, body: dict[str, Any]) -> None:
    assert _decide(env, env.keys.startup, **body).status_code == 400


def test_decide_for_another_org_needs_a_service_key(env: Env, env_service_key: list[str]) -> None:
    body = {
        "org": "Ministère des Armées",
        "purpose": "national-security",
        "categories": ["nuclear"],
    }
    r = _decide(env, env.keys.startup, **body)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "decide_not_permitted"
    env_service_key.append(env.keys.startup.split("_")[1])
    r = _decide(env, env.keys.startup, **body)
    assert r.status_code == 200
    assert r.json()["outcome"] == "deny"
    assert r.json()["org"]["country"] == "FR"


def test_rate_limit_is_429_per_key(tmp_path: Any, upstream: Any) -> None:
    runtime = make_runtime(tmp_path, upstream_url=upstream.url, rate_limit="2/minute")
    try:
        keys = register(runtime)
        with ServerThread(create_app(runtime, classifier=KeywordClassifier())) as server:

            def models(key: str) -> httpx.Response:
                return httpx.get(
                    f"{server.url}/v1/models", headers={"Authorization": f"Bearer {key}"}
                )

            codes = [models(keys.startup).status_code for _ in range(3)]
            other = models(keys.lockheed).status_code
            limited = models(keys.startup)
    finally:
        runtime.close()
    assert codes == [200, 200, 429]
    assert other == 200
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(limited.headers["retry-after"]) >= 1


@pytest.mark.redis
def test_rate_limit_shared_through_redis(tmp_path: Any, upstream: Any) -> None:
    if os.environ.get("AUPGATE_TEST_REDIS") != "1":
        pytest.skip("Redis tests run with AUPGATE_TEST_REDIS=1 and Redis on 127.0.0.1:6379")
    runtime = make_runtime(
        tmp_path,
        upstream_url=upstream.url,
        rate_limit="3/minute",
        redis_url="redis://127.0.0.1:6379/0",
    )
    try:
        keys = register(runtime)
        # Two apps (as two workers would be) share the counter through Redis.
        a = create_app(runtime, classifier=KeywordClassifier())
        b = create_app(runtime, classifier=KeywordClassifier())
        with ServerThread(a) as sa, ServerThread(b) as sb:
            headers = {"Authorization": f"Bearer {keys.startup}"}
            codes = [
                httpx.get(f"{url}/v1/models", headers=headers).status_code
                for url in (sa.url, sb.url, sa.url, sb.url)
            ]
            ready = httpx.get(f"{sa.url}/readyz").json()["checks"]["rate_limit_store"]
    finally:
        runtime.close()
    assert codes == [200, 200, 200, 429]
    assert ready == "ok"


def test_health_ready_and_metrics(env: Env) -> None:
    assert httpx.get(f"{env.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{env.url}/readyz")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {
        "store",
        "classifier",
        "audit_log",
        "policy",
        "upstream",
        "rate_limit_store",
    }
    env.chat(env.keys.startup, "make MALWARE")
    env.chat(env.keys.startup, "hello")
    env.post("/v1/chat/completions", {}, None)
    text = httpx.get(f"{env.url}/metrics").text
    assert (
        'aupgate_requests_total{category="malicious-code",outcome="deny",'
        'route="/v1/chat/completions"} 1.0' in text
    )
    assert 'outcome="allow",route="/v1/chat/completions"} 1.0' in text
    assert 'aupgate_stage_seconds_count{stage="classify"} 2.0' in text
    assert 'category="-",outcome="error_401",route="/v1/chat/completions"} 1.0' in text
    assert 'aupgate_stage_seconds_count{stage="upstream"} 1.0' in text


def test_readyz_fails_when_the_upstream_is_down(env: Env) -> None:
    from fake_upstream import free_port

    app = create_app(
        env.runtime, classifier=env.classifier, upstream_url=f"http://127.0.0.1:{free_port()}/v1"
    )
    with ServerThread(app) as server:
        r = httpx.get(f"{server.url}/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["upstream"].startswith("failed")


class BrokenClassifier(KeywordClassifier):
    def classify(self, text: str) -> Classification:
        raise ClassifyError("model file unreadable")


def test_classifier_failure_refuses_and_records_a_refusal(tmp_path: Any, upstream: Any) -> None:
    runtime = make_runtime(tmp_path, upstream_url=upstream.url)
    try:
        keys = register(runtime)
        with ServerThread(create_app(runtime, classifier=BrokenClassifier())) as server:
            r = httpx.post(
                f"{server.url}/v1/chat/completions",
                json={"model": "llama", "messages": [{"role": "user", "content": "hi"}]},
                headers={"Authorization": f"Bearer {keys.startup}"},
            )
            ready = httpx.get(f"{server.url}/readyz")
        leaves = [leaf for _, leaf in runtime.audit.tail(runtime.audit.size)]
    finally:
        runtime.close()
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "aup_classifier_unavailable"
    assert "model file" not in r.text  # no internals
    assert upstream.bodies == []
    refusals = [e["record"] for e in map(json.loads, leaves) if e["type"] == "refusal"]
    assert len(refusals) == 1
    assert refusals[0]["outcome"] == "refused" and refusals[0]["stage"] == "classifier"
    assert refusals[0]["context"]["route"] == "/v1/chat/completions"
    assert refusals[0]["context"]["key_id"] is not None
    assert ready.status_code == 200  # identity loads; the failure shows per request


def test_logs_carry_ids_but_no_prompt_or_key(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    secret_prompt = f"secret-{uuid.uuid4().hex}"
    with caplog.at_level(logging.INFO, logger="aupgate.gateway"):
        r = env.chat(env.keys.startup, secret_prompt)
    assert r.status_code == 200
    records = [rec for rec in caplog.records if rec.name == "aupgate.gateway"]
    decided = [rec for rec in records if rec.getMessage() == "request.decided"]
    assert decided and decided[0].fields["decision_id"] == r.headers["X-AUP-Decision-Id"]  # type: ignore[attr-defined]
    from aupgate.gateway.logs import JsonFormatter

    text = "\n".join(JsonFormatter().format(rec) for rec in records)
    assert secret_prompt not in text
    assert env.keys.startup not in text
    assert env.keys.startup.split("_")[1] in text  # the key id is fine to log
