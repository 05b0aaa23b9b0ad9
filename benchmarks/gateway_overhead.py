"""Latency the gateway adds over calling the same upstream directly, and requests/s.

Three processes: an instant upstream (benchmarks.gateway_upstream), the gateway under uvicorn
(1 or 2 workers; with the embedded classifier, or with one that scores nothing), and this
load generator. Direct and gateway requests are interleaved in one run (each client alternates),
so machine noise hits both alike. Beside the gateway without classification runs the floor:
`passthrough`, the same server stack and upstream client forwarding without any check, so the
added latency splits into what the stack costs and what enforcement costs. Streaming rows
time the first event (TTFE) and the first event carrying content (TTFC: what output
moderation holds back).

    .venv/bin/python -m benchmarks.gateway_overhead            # full run (a few minutes)
    .venv/bin/python -m benchmarks.gateway_overhead --quick    # smaller counts
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from aupgate.config import load_settings
from aupgate.gateway.upstream_process import free_loopback_port
from aupgate.runtime import Runtime
from benchmarks.loadgen import requests_per_second

CONCURRENCY = (1, 8, 32, 64)
PROMPT = "Summarise the benefits of unit testing in two sentences."
LITELLM_KEY = "sk-aupgate-bench-0123456789abcdef"  # LiteLLM refuses to start without one
LITELLM_AUTH = {"Authorization": f"Bearer {LITELLM_KEY}"}
CHAT = {"model": "llama", "messages": [{"role": "user", "content": PROMPT}]}


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    stream: bool


@contextmanager
def process(args: list[str], url: str, env: dict[str, str] | None = None) -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, *args], env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args[0]} did not start")
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def make_home(home: Path) -> str:
    runtime = Runtime(load_settings(home=home))
    try:
        now = runtime.now()
        runtime.registry.add_org("Bench Corp", "US", "commercial", actor="bench", now=now)
        _, secret = runtime.registry.create_key(
            "Bench Corp",
            "bench",
            actor="bench",
            now=now,
            allowed_models=["llama"],
            allowed_purposes=["general"],
            default_purpose="general",
        )
        return secret
    finally:
        runtime.close()


async def _one(client: httpx.AsyncClient, t: Target) -> tuple[float, float]:
    """(latency or time to first event, time to first content event) in seconds."""
    start = time.perf_counter()
    if not t.stream:
        r = await client.post(t.url, json=t.body, headers=t.headers)
        if r.status_code != 200:
            raise RuntimeError(f"{t.name} {t.url} answered {r.status_code}: {r.text[:300]}")
        elapsed = time.perf_counter() - start
        return elapsed, elapsed
    first = content = 0.0
    async with client.stream("POST", t.url, json=t.body, headers=t.headers) as r:
        if r.status_code != 200:
            await r.aread()
            raise RuntimeError(f"{t.name} {t.url} answered {r.status_code}: {r.text[:300]}")
        async for chunk in r.aiter_raw():
            now = time.perf_counter() - start
            first = first or now
            if not content and b'"content"' in chunk:
                content = now
    return first, content or first


async def run(targets: list[Target], concurrency: int, per_client: int) -> dict[str, Any]:
    results: dict[str, list[tuple[float, float]]] = {t.name: [] for t in targets}
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=concurrency * len(targets) + 4)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        for t in targets:  # warm connections and caches
            await _one(client, t)

        async def worker(k: int) -> None:
            for i in range(per_client):
                t = targets[(k + i) % len(targets)]  # alternate: direct, gateway, ...
                try:
                    results[t.name].append(await _one(client, t))
                except httpx.HTTPError as exc:  # transport errors; a non-200 status raises
                    key = f"{t.name}: {type(exc).__name__}"
                    errors[key] = errors.get(key, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        wall = time.perf_counter() - start
    if errors:
        print(f"  (failed requests at c={concurrency}: {errors})", flush=True)
    return {"wall": wall, "results": results}


def pct(values: list[float], q: int) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def _ms(value: float) -> str:
    return f"{value * 1e3:.2f}"


def latency_rows(
    label: str,
    direct: Target,
    others: list[Target],
    per_client: dict[int, int],
    levels: tuple[int, ...] = CONCURRENCY,
    reference: Target | None = None,
) -> list[str]:
    """One row per concurrency: direct p50/p99, then added p50/p99 (and TTFC) per target.

    The reference proxy (LiteLLM) is interleaved with direct requests in a pass of its own
    right after: it keeps working for milliseconds after each response (its logging
    callbacks), which in a shared rotation slowed whichever request came next (at c=1 it
    doubled aupgate's added latency without classification, +1.4 -> +2.8 ms).
    """
    rows = []
    for c in levels:
        passes = [(direct, others)] + ([(direct, [reference])] if reference else [])
        cells = [label, str(c)]
        for i, (base, targets) in enumerate(passes):
            results = asyncio.run(run([base, *targets], c, per_client[c]))["results"]
            d = [x[0] for x in results[base.name]]
            dc = [x[1] for x in results[base.name]]
            if i == 0:
                cells += [_ms(pct(d, 50)), _ms(pct(d, 99))]
            for t in targets:
                g = [x[0] for x in results[t.name]]
                gc = [x[1] for x in results[t.name]]
                cells += [
                    f"**{(pct(g, 50) - pct(d, 50)) * 1e3:+.2f}**",
                    f"{(pct(g, 99) - pct(d, 99)) * 1e3:+.2f}",
                ]
                if t.stream:
                    cells.append(f"{(pct(gc, 50) - pct(dc, 50)) * 1e3:+.2f}")
        row = "| " + " | ".join(cells) + " |"
        rows.append(row)
        print(row, flush=True)
    return rows


def table_header(names: list[str], stream: bool) -> str:
    cols = ["mode", "c", "direct p50", "direct p99"]
    for name in names:
        cols += [f"{name} added p50", f"{name} added p99"]
        if stream:
            cols.append(f"{name} added TTFC p50")
    return "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols)


def throughput(target: Target, concurrency: int = 64, seconds: float = 5.0) -> float:
    """Requests/s from the raw-socket load generator (httpx would measure itself)."""
    return requests_per_second(
        target.url, target.body, target.headers, concurrency=concurrency, seconds=seconds
    )


@contextmanager
def litellm(binary: str | None, upstream: str, home: Path) -> Iterator[str | None]:
    """The LiteLLM proxy (plain proxying: no guardrails, no database) on the same upstream."""
    if binary is None:
        yield None
        return
    port = free_loopback_port()
    config = home / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: llama\n    litellm_params:\n"
        f"      model: openai/bench\n      api_base: {upstream}\n      api_key: none\n"
        f"general_settings:\n  master_key: {LITELLM_KEY}\n"
    )
    proc = subprocess.Popen(
        [binary, "--config", str(config), "--port", str(port)],
        stdout=(home / "litellm.log").open("wb"),
        stderr=subprocess.STDOUT,
        # The bundled price map, instead of fetching it from GitHub at start.
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:  # ready once it proxies a request
                r = httpx.post(
                    f"{url}/v1/chat/completions", json=CHAT, headers=LITELLM_AUTH, timeout=5
                )
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("litellm did not start")
            time.sleep(0.5)
        yield f"{url}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def gateway(factory: str, workers: int, port: int, home: str, upstream: str) -> Any:
    """The worker processes `aupgate serve --workers N` runs, with this app factory."""
    env = {
        "AUPGATE_HOME": home,
        "AUPGATE_UPSTREAM_URL": upstream,
        "AUPGATE_RATE_LIMIT": "1000000/minute",
        "AUPGATE_UPSTREAM_TIMEOUT_S": "300",
    }
    cmd = [
        "-c",
        "from aupgate.cli.serve import run_workers; "
        f"run_workers('benchmarks.gateway_apps:{factory}', {workers}, "
        f"port={port}, log_level='warning', access_log=False)",
    ]
    return process(cmd, f"http://127.0.0.1:{port}/healthz", env)


def llama_rows(home: str, key: str, port: int) -> None:
    """The same comparison with the real embedded upstream (SmolLM2-135M on llama.cpp)."""
    from aupgate.gateway.upstream_process import ManagedUpstream, UpstreamConfig, find_smollm2_gguf

    config = UpstreamConfig(model_path=find_smollm2_gguf(), log_path=Path(home) / "llama.log")
    body = {**CHAT, "max_tokens": 16, "temperature": 0}
    auth = {"Authorization": f"Bearer {key}"}
    with (
        ManagedUpstream(config) as llama,
        gateway("with_classifier", 1, port, home, llama.base_url),
    ):
        gw = f"http://127.0.0.1:{port}/v1"
        print("\n## real upstream: llama.cpp SmolLM2-135M, max_tokens 16, everything on, 1 worker")
        for stream in (False, True):
            b = {**body, "stream": True} if stream else body
            print(f"\n{table_header(['aupgate'], stream)}", flush=True)
            latency_rows(
                "stream TTFE" if stream else "plain",
                Target("direct", f"{llama.base_url}/chat/completions", {}, b, stream),
                [Target("aupgate", f"{gw}/chat/completions", auth, b, stream)],
                {1: 10, 4: 4},
                # llama-cpp-python's server interrupts a running stream when another request
                # arrives, so streams are measured one at a time.
                levels=(1,) if stream else (1, 4),
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests per level")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--llama", action="store_true", help="also measure with the real llama.cpp upstream"
    )
    parser.add_argument(
        "--litellm", help="path of a `litellm` executable (its own venv) to compare side by side"
    )
    args = parser.parse_args()
    scale = 1 if args.quick else 3
    per_client = {1: 100 * scale, 8: 30 * scale, 32: 10 * scale, 64: 6 * scale}

    up_port, gw_port, floor_port = (free_loopback_port() for _ in range(3))
    upstream = f"http://127.0.0.1:{up_port}/v1"
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; times in ms", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="aupgate-bench-") as tmp,
        tempfile.TemporaryDirectory(prefix="litellm-bench-") as litellm_home,
        process(
            [
                "-m",
                "uvicorn",
                "benchmarks.gateway_upstream:app",
                "--port",
                str(up_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            f"{upstream}/models",
        ),
        litellm(args.litellm, upstream, Path(litellm_home)) as litellm_url,
    ):
        key = make_home(Path(tmp))
        auth = {"Authorization": f"Bearer {key}"}
        gw = f"http://127.0.0.1:{gw_port}/v1"
        summary = []
        for factory in ("with_classifier", "without_classifier"):
            for workers in args.workers:
                # Beside the gateway without classification, the floor: the same server stack
                # and upstream client forwarding without any check (`gateway_apps.passthrough`).
                floor = factory == "without_classifier"
                with (
                    gateway(factory, workers, gw_port, tmp, upstream),
                    gateway("passthrough", workers, floor_port, tmp, upstream)
                    if floor
                    else contextlib.nullcontext(),
                ):
                    print(f"\n## {factory}, {workers} worker(s)", flush=True)
                    for stream in (False, True):
                        body = {**CHAT, "stream": True} if stream else CHAT
                        others = [Target("aupgate", f"{gw}/chat/completions", auth, body, stream)]
                        if floor:
                            others.append(
                                Target(
                                    "passthrough",
                                    f"http://127.0.0.1:{floor_port}/v1/chat/completions",
                                    {},
                                    body,
                                    stream,
                                )
                            )
                        reference = (
                            Target(
                                "litellm",
                                f"{litellm_url}/chat/completions",
                                LITELLM_AUTH,
                                body,
                                stream,
                            )
                            if litellm_url
                            else None
                        )
                        names = [t.name for t in others] + ([reference.name] if reference else [])
                        print(f"\n{table_header(names, stream)}", flush=True)
                        latency_rows(
                            "stream TTFE" if stream else "plain",
                            Target("direct", f"{upstream}/chat/completions", {}, body, stream),
                            others,
                            per_client,
                            reference=reference,
                        )
                    proxy = Target("gateway", f"{gw}/chat/completions", auth, CHAT, False)
                    rps = throughput(proxy)
                    decide = Target(
                        "decide",
                        f"{gw}/decide",
                        auth,
                        {"purpose": "general", "categories": []},
                        False,
                    )
                    decide_rps = throughput(decide)
                    d1 = asyncio.run(run([decide], 1, per_client[1]))["results"]["decide"]
                    summary.append(
                        f"| aupgate {factory} | {workers} | {rps:.0f} | {decide_rps:.0f} | "
                        f"{pct([x[0] for x in d1], 50) * 1e3:.2f} |"
                    )
        direct = Target("direct", f"{upstream}/chat/completions", {}, CHAT, False)
        summary.append(f"| upstream direct | - | {throughput(direct):.0f} | | |")
        if litellm_url:
            plain = Target("litellm", f"{litellm_url}/chat/completions", LITELLM_AUTH, CHAT, False)
            summary.append(f"| litellm (1 process) | - | {throughput(plain):.0f} | | |")
        if args.llama:
            llama_rows(tmp, key, gw_port)
    print(
        "\n| server | workers | chat req/s (c=64) | decide API req/s (c=64, categories given) "
        "| decide API p50 ms (c=1) |\n|---|---|---|---|---|"
    )
    print("\n".join(summary))


if __name__ == "__main__":
    main()
