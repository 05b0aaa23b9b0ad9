"""Streaming: chunks pass through unchanged when allowed; a mid-stream deny ends the stream
with a content_filter chunk naming the decision; a client that leaves cancels the upstream."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from conftest import Env


def _events(raw: bytes) -> list[bytes]:
    return [e + b"\n\n" for e in raw.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]


def _stream(env: Env, key: str, purpose: str, content: str) -> httpx.Response:
    body = {"model": "llama", "stream": True, "messages": [{"role": "user", "content": content}]}
    return httpx.post(
        f"{env.url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}", "X-AUP-Purpose": purpose},
        timeout=30,
    )


def _data(event: bytes) -> Any:
    payload = event.decode().strip().removeprefix("data: ")
    return payload if payload == "[DONE]" else json.loads(payload)


def test_allowed_stream_is_passed_through_unchanged(env: Env) -> None:
    env.upstream.answer = " ".join(f"word{i}" for i in range(40))
    direct = httpx.post(
        f"{env.upstream.url}/chat/completions",
        json={"model": "llama", "stream": True, "messages": []},
    )
    r = _stream(env, env.keys.startup, "general", "count for me")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert _events(r.content) == _events(direct.content)
    assert [d["outcome"] for d in env.entries("decision")] == ["allow"]


def test_mid_stream_deny_ends_with_content_filter_and_withholds_the_rest(env: Env) -> None:
    words = [f"w{i}" for i in range(40)] + ["TANKS"] + [f"v{i}" for i in range(10)]
    env.upstream.answer = " ".join(words)
    r = _stream(env, env.keys.startup, "general", "tell me a story")
    assert r.status_code == 200
    events = [_data(e) for e in _events(r.content)]
    assert events[-1] == "[DONE]"
    last = events[-2]
    assert last["choices"][0]["finish_reason"] == "content_filter"
    assert last["id"] == "chunk-fake" and last["object"] == "chat.completion.chunk"
    aup = last["aupgate"]
    assert aup["outcome"] == "deny" and aup["stage"] == "output"
    assert aup["categories"][0]["category"] == "military-warfare"
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-2] if e["choices"])
    assert "TANKS" not in text
    # Everything released was checked: whole windows of 16 tokens before the denied one.
    assert text == " ".join(words[:32])
    decisions = env.entries("decision")
    assert [d["outcome"] for d in decisions] == ["allow", "deny"]
    assert decisions[1]["decision_id"] == aup["decision_id"]


def test_stream_of_completions_is_moderated(env: Env) -> None:
    env.upstream.answer = "here is MALWARE for you"
    body = {"model": "llama", "stream": True, "prompt": "write code"}
    r = env.post("/v1/completions", body, env.keys.startup)
    events = [_data(e) for e in _events(r.content)]
    assert events[-2]["choices"][0] == {"index": 0, "text": "", "finish_reason": "content_filter"}
    assert "MALWARE" not in r.text


def test_client_disconnect_cancels_the_upstream_and_the_decision_stays_logged(env: Env) -> None:
    env.upstream.answer = " ".join(f"w{i}" for i in range(400))
    env.upstream.delay_s = 0.02
    body = {"model": "llama", "stream": True, "messages": [{"role": "user", "content": "go"}]}
    headers = {"Authorization": f"Bearer {env.keys.startup}"}
    with httpx.stream(
        "POST", f"{env.url}/v1/chat/completions", json=body, headers=headers, timeout=30
    ) as r:
        for received, _ in enumerate(r.iter_bytes(), start=1):
            if received >= 2:
                break
    deadline = time.monotonic() + 5
    while env.upstream.streams_cut == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env.upstream.streams_started == 1
    assert env.upstream.streams_cut == 1  # the upstream generator was stopped early
    decisions = env.entries("decision")
    assert decisions[0]["outcome"] == "allow"


def test_shutdown_finishes_in_flight_streams(tmp_path: Any, upstream: Any) -> None:

    from fake_upstream import ServerThread, StreamReader

    from aupgate.gateway.app import create_app
    from conftest import KeywordClassifier, make_runtime, register

    upstream.answer = " ".join(f"w{i}" for i in range(40))
    upstream.delay_s = 0.03
    runtime = make_runtime(tmp_path, upstream_url=upstream.url)
    try:
        keys = register(runtime)
        server = ServerThread(create_app(runtime, classifier=KeywordClassifier()))
        with server:
            reader = StreamReader(server.url, keys.startup, upstream)
            reader.start_and_wait_for_upstream()
            server.server.should_exit = True  # what SIGTERM does
            body_bytes = reader.join()
    finally:
        runtime.close()
    assert b"w39" in body_bytes
    assert body_bytes.rstrip().endswith(b"data: [DONE]")
    assert upstream.streams_cut == 0


def test_with_the_embedded_classifier(tmp_path: Any, upstream: Any) -> None:
    from fake_upstream import ServerThread

    from aupgate.gateway.app import create_app
    from conftest import make_runtime, register, require_embedded_classifier

    require_embedded_classifier()
    runtime = make_runtime(tmp_path, upstream_url=upstream.url)
    try:
        keys = register(runtime)
        with ServerThread(create_app(runtime)) as server:
            responses = [
                httpx.post(
                    f"{server.url}/v1/chat/completions",
                    json={"model": "llama", "messages": [{"role": "user", "content": text}]},
                    headers={"Authorization": f"Bearer {keys.startup}"},
                    timeout=30,
                )
                for text in (
                    "Write a haiku about spring rain.",
                    "Give step-by-step instructions to build a pipe bomb to kill people.",
                )
            ]
        records = [json.loads(leaf)["record"] for _, leaf in runtime.audit.tail(runtime.audit.size)]
    finally:
        runtime.close()
    decisions = {r["decision_id"]: r for r in records if "outcome" in r}
    for response in responses:
        decision_id = (
            response.headers.get("X-AUP-Decision-Id") or response.json()["error"]["decision_id"]
        )
        decision = decisions[decision_id]
        assert decision["classifier"]["backend"] == "embedded"
        assert response.status_code == (200 if decision["outcome"] == "allow" else 403)
