"""`aupgate serve` as a real process: several workers, and a graceful stop that lets an
in-flight stream finish."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fake_upstream import StreamReader, free_port

from conftest import make_runtime, register, require_embedded_classifier

pytestmark = pytest.mark.slow

LAUNCH = "from aupgate.cli import app; app(prog_name='aupgate')"


def _start(
    home: Path, upstream_url: str | None, workers: int
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "AUPGATE_UPSTREAM_URL"}
    env["AUPGATE_RATE_LIMIT"] = "1000/second"
    if upstream_url:
        env["AUPGATE_UPSTREAM_URL"] = upstream_url
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LAUNCH,
            "--home",
            str(home),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"serve exited early:\n{out}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("serve did not become healthy")


@pytest.fixture
def keys(tmp_path: Path, upstream: Any) -> Iterator[Any]:
    runtime = make_runtime(tmp_path)
    try:
        yield register(runtime)
    finally:
        runtime.close()


def test_serve_with_two_workers_decides_and_records(
    tmp_path: Path, upstream: Any, keys: Any
) -> None:
    process, url = _start(tmp_path, upstream.url, workers=2)
    try:
        with httpx.Client() as client:  # one keep-alive connection, sequential requests
            timings = []
            for _ in range(21):
                start = time.perf_counter()
                client.get(f"{url}/healthz")
                timings.append(time.perf_counter() - start)
        headers = {"Authorization": f"Bearer {keys.lockheed}"}
        body = {"purpose": "national-security", "categories": ["military-warfare"]}
        answers = [
            httpx.post(f"{url}/v1/decide", json=body, headers=headers, timeout=30) for _ in range(8)
        ]
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    assert [a.json()["outcome"] for a in answers] == ["allow"] * 8, out.decode()
    # Without TCP_NODELAY on the shared socket each answer waited ~40 ms for a delayed ACK.
    assert sorted(timings)[10] < 0.02
    assert b'"event":"startup"' in out  # JSON logs
    assert keys.lockheed.encode() not in out
    runtime = make_runtime(tmp_path)
    try:
        recorded = {leaf for _, leaf in runtime.audit.tail(runtime.audit.size)}
    finally:
        runtime.close()
    for answer in answers:
        assert any(answer.json()["decision_id"].encode() in leaf for leaf in recorded)


def test_sigterm_lets_an_in_flight_stream_finish(tmp_path: Path, upstream: Any, keys: Any) -> None:
    require_embedded_classifier()
    upstream.answer = " ".join(f"w{i}" for i in range(40))
    upstream.delay_s = 0.05  # a two-second answer
    process, url = _start(tmp_path, upstream.url, workers=1)
    reader = StreamReader(url, keys.startup, upstream)
    reader.start_and_wait_for_upstream()
    process.send_signal(signal.SIGTERM)
    body = reader.join()
    code = process.wait(timeout=30)
    assert b"w39" in body
    assert body.rstrip().endswith(b"data: [DONE]")
    assert code == 0


def test_serve_without_upstream_runs_the_embedded_model(tmp_path: Path, keys: Any) -> None:
    require_embedded_classifier()
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python[server] is not installed")
    process, url = _start(tmp_path, None, workers=1)
    try:
        ready = httpx.get(f"{url}/readyz", timeout=30)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=keys.startup, max_retries=0)
        answer = client.chat.completions.create(
            model="llama", messages=[{"role": "user", "content": "Say hi."}], max_tokens=8
        )
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    assert ready.status_code == 200, ready.text
    assert answer.choices[0].message.content
    assert b"embedded model server ready" in out
    # The child server was stopped with the gateway.
    upstream_url = out.split(b"embedded model server ready at ")[1].split()[0].decode()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{upstream_url}/models", timeout=2)


def test_serve_with_a_broken_pack_stops_before_starting_workers(tmp_path: Path) -> None:
    env = {**os.environ, "AUPGATE_PACK": "no-such-pack", "AUPGATE_UPSTREAM_URL": "http://x"}
    launch = [sys.executable, "-c", LAUNCH, "--home", str(tmp_path), "serve", "--workers", "2"]
    done = subprocess.run(launch, env=env, capture_output=True, timeout=60)
    assert done.returncode != 0
    assert b"error: no pack named or at 'no-such-pack'" in done.stderr
    assert b"Traceback" not in done.stdout + done.stderr
