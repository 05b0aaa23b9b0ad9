"""End to end with the real parts: the official `openai` client (sync and async, streaming and
not) through the gateway to a real `llama_cpp.server` running SmolLM2-135M-Instruct."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from fake_upstream import ServerThread

from aupgate.gateway.app import create_app
from conftest import KeywordClassifier, make_runtime, register

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llama_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip(
            "llama-cpp-python[server] is not installed (pip install 'llama-cpp-python[server]')"
        )
    from aupgate.gateway.upstream_process import ManagedUpstream, UpstreamConfig, find_smollm2_gguf

    log = tmp_path_factory.mktemp("llama") / "llama.log"
    config = UpstreamConfig(model_path=find_smollm2_gguf(), log_path=log, n_ctx=1024)
    with ManagedUpstream(config) as upstream:
        yield upstream.base_url


@pytest.fixture
def gateway(tmp_path: Path, llama_url: str) -> Iterator[tuple[str, Any]]:
    runtime = make_runtime(tmp_path, upstream_url=llama_url, upstream_timeout_s=120.0)
    try:
        keys = register(runtime)
        with ServerThread(create_app(runtime, classifier=KeywordClassifier())) as server:
            yield f"{server.url}/v1", keys
    finally:
        runtime.close()


MESSAGES: list[Any] = [{"role": "user", "content": "Say hello in three words."}]


def test_sync_client_plain_and_streaming(gateway: tuple[str, Any]) -> None:
    url, keys = gateway
    client = openai.OpenAI(
        base_url=url, api_key=keys.lockheed, default_headers={"X-AUP-Purpose": "national-security"}
    )
    answer = client.chat.completions.create(model="llama", messages=MESSAGES, max_tokens=12)
    assert answer.choices[0].message.content
    assert answer.choices[0].finish_reason in {"stop", "length"}
    chunks = list(
        client.chat.completions.create(model="llama", messages=MESSAGES, max_tokens=24, stream=True)
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].choices[0].finish_reason in {"stop", "length"}
    models = client.models.list()
    assert [m.id for m in models.data] == ["llama"]
    completion = client.completions.create(model="llama", prompt="The sky is", max_tokens=8)
    assert completion.choices[0].text


def test_async_client_plain_and_streaming(gateway: tuple[str, Any]) -> None:
    url, keys = gateway

    async def run() -> tuple[str, str]:
        client = openai.AsyncOpenAI(base_url=url, api_key=keys.startup)
        plain = await client.chat.completions.create(
            model="llama", messages=MESSAGES, max_tokens=12
        )
        stream = await client.chat.completions.create(
            model="llama", messages=MESSAGES, max_tokens=12, stream=True
        )
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        await client.close()
        return plain.choices[0].message.content or "", "".join(parts)

    plain, streamed = asyncio.run(run())
    assert plain.strip() and streamed.strip()


def test_refusals_reach_the_client_as_exceptions(gateway: tuple[str, Any]) -> None:
    url, keys = gateway
    client = openai.OpenAI(base_url=url, api_key=keys.startup, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.chat.completions.create(
            model="llama", messages=[{"role": "user", "content": "TANKS"}], max_tokens=8
        )
    assert denied.value.code == "aup_denied"
    body: Any = denied.value.body
    assert body["decision_id"] and body["rules"]
    bad = openai.OpenAI(base_url=url, api_key="aupk_nothing_here", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="llama", messages=MESSAGES)
