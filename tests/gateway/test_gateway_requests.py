"""Malformed input, limits, unknown models, and upstream failures map to precise errors."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from conftest import Env


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_body_bytes": 4096, "max_messages": 3, "upstream_timeout_s": 0.5}


def _raw(env: Env, content: bytes, key: str) -> httpx.Response:
    return httpx.post(
        f"{env.url}/v1/chat/completions",
        content=content,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )


def test_malformed_json_is_400(env: Env) -> None:
    r = _raw(env, b'{"model": "llama", "messages": [', env.keys.startup)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "the request body is not valid JSON"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([1, 2], None),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "llama", "messages": "hi"}, "messages"),
        ({"model": "llama", "messages": [{"content": "hi"}]}, "messages"),
        ({"model": "llama", "messages": [{"role": "user", "content": 5}]}, "messages"),
        (
            {"model": "llama", "messages": [{"role": "user", "content": "x"}], "stream": "yes"},
            "stream",
        ),
        (
            {"model": "llama", "messages": [{"role": "user", "content": "x"}], "metadata": 3},
            "metadata",
        ),
    ],
)
def test_wrong_types_are_400_naming_the_field(env: Env, body: Any, param: str | None) -> None:
    r = env.post("/v1/chat/completions", body, env.keys.startup)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == param
    assert env.upstream.bodies == []


def test_oversized_body_is_413(env: Env) -> None:
    body = {"model": "llama", "messages": [{"role": "user", "content": "x" * 5000}]}
    r = env.post("/v1/chat/completions", body, env.keys.startup)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"


def test_oversized_chunked_body_is_413(env: Env) -> None:
    def chunks() -> Any:
        yield b'{"model": "llama", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}]}'

    r = httpx.post(
        f"{env.url}/v1/chat/completions",
        content=chunks(),
        headers={"Authorization": f"Bearer {env.keys.startup}"},
    )
    assert r.status_code == 413


def test_too_many_messages_is_400(env: Env) -> None:
    messages = [{"role": "user", "content": "hi"}] * 4
    r = env.post("/v1/chat/completions", {"model": "llama", "messages": messages}, env.keys.startup)
    assert r.status_code == 400
    assert "limit of 3" in r.json()["error"]["message"]


def test_unknown_model_is_404_listing_the_allowed_ones(env: Env) -> None:
    body = {"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}
    r = env.post("/v1/chat/completions", body, env.keys.startup)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"
    assert "llama" in r.json()["error"]["message"]


def test_models_lists_only_the_keys_models(env: Env) -> None:
    r = httpx.get(f"{env.url}/v1/models", headers={"Authorization": f"Bearer {env.keys.startup}"})
    assert r.status_code == 200
    assert [m["id"] for m in r.json()["data"]] == ["llama"]


def test_upstream_down_is_502_after_the_decision_was_logged(env: Env, tmp_path: Any) -> None:
    from fake_upstream import ServerThread, free_port

    from aupgate.gateway.app import create_app

    app = create_app(
        env.runtime, classifier=env.classifier, upstream_url=f"http://127.0.0.1:{free_port()}/v1"
    )
    with ServerThread(app) as server:
        for stream in (False, True):
            body = {
                "model": "llama",
                "stream": stream,
                "messages": [{"role": "user", "content": "hi"}],
            }
            r = httpx.post(
                f"{server.url}/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {env.keys.startup}"},
            )
            assert r.status_code == 502
            assert r.json()["error"]["code"] == "upstream_connect"
        metrics = httpx.get(f"{server.url}/metrics").text
    assert 'aupgate_upstream_errors_total{reason="connect"} 2.0' in metrics
    assert [d["outcome"] for d in env.entries("decision")] == ["allow", "allow"]


def test_upstream_hanging_is_504_within_the_timeout(env: Env) -> None:
    env.upstream.hang = True
    start = time.monotonic()
    r = env.chat(env.keys.startup, "hi")
    elapsed = time.monotonic() - start
    assert r.status_code == 504
    assert r.json()["error"]["code"] == "upstream_timeout"
    assert elapsed < 2.0  # the configured timeout is 0.5 s


def test_upstream_server_error_is_502_and_client_error_passes_through(env: Env) -> None:
    env.upstream.status = 500
    assert env.chat(env.keys.startup, "hi").status_code == 502
    env.upstream.status = 422
    r = env.chat(env.keys.startup, "hi")
    assert r.status_code == 422
    assert r.json() == {"error": {"message": "upstream says no"}}


def test_upstream_model_rewrites_the_forwarded_model(env: Env) -> None:
    from fake_upstream import ServerThread

    from aupgate.gateway.app import create_app

    runtime = env.runtime
    runtime.settings = runtime.settings.model_copy(update={"upstream_model": "smollm2"})
    app = create_app(runtime, classifier=env.classifier)
    with ServerThread(app) as server:
        body = {"model": "llama", "messages": [{"role": "user", "content": "hi"}]}
        r = httpx.post(
            f"{server.url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {env.keys.startup}"},
        )
    assert r.status_code == 200
    assert env.upstream.bodies[-1]["model"] == "smollm2"
    assert env.entries("decision")[0]["model"] == "llama"
