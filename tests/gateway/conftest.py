"""Gateway fixtures: a real registry and audit log in a temporary home, real keys for the
organisations of the 2024 case, an instant fake upstream, and the gateway on a real port.

Policy-path tests use `KeywordClassifier` so that their outcomes do not depend on the scores
of the (separately trained) embedded classifier; one test uses the embedded classifier itself.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from aupgate.classify.taxonomy import CATEGORIES
from aupgate.config import Settings, load_settings
from aupgate.decision import CategoryScore, Classification, ClassifierIdentity
from aupgate.gateway.app import create_app
from aupgate.runtime import Runtime

sys.path.insert(0, str(Path(__file__).parent))
from fake_upstream import FakeUpstream, ServerThread

# Trigger word -> (category, score): 0.95 is above the deny threshold, 0.6 in the review band.
KEYWORDS = {
    "TANKS": ("military-warfare", 0.95),
    "MALWARE": ("malicious-code", 0.95),
    "MAYBEHACK": ("malicious-code", 0.6),
}


class KeywordClassifier:
    """Deterministic scores: a category scores high when its trigger word is in the text."""

    identity = ClassifierIdentity("keyword-test", "1", "-")

    def __init__(self) -> None:
        self.calls = 0
        self.stage_threads: list[tuple[str, str]] = []  # (first stage, second stage) threads

    def classify_in_stages(self, text: str) -> Classification | Callable[[], Classification]:
        """Staged like the embedded model: SECONDSTAGE in the text needs the second stage."""
        if "SECONDSTAGE" not in text:
            return self.classify(text)
        first = threading.current_thread().name

        def rest() -> Classification:
            self.stage_threads.append((first, threading.current_thread().name))
            return self.classify(text)

        return rest

    def classify(self, text: str) -> Classification:
        self.calls += 1
        scores = dict.fromkeys(CATEGORIES, 0.01)
        for word, (category, score) in KEYWORDS.items():
            if word in text:
                scores[category] = max(scores[category], score)
        return Classification(tuple(CategoryScore(c, s) for c, s in scores.items()), self.identity)

    def classify_batch(self, texts: Sequence[str]) -> list[Classification]:
        return [self.classify(t) for t in texts]


@dataclass
class Keys:
    lockheed: str
    startup: str
    ministry: str


@dataclass
class Env:
    runtime: Runtime
    upstream: FakeUpstream
    keys: Keys
    url: str  # the gateway, e.g. http://127.0.0.1:1234
    classifier: KeywordClassifier

    def post(self, path: str, json: Any, key: str | None, **headers: str) -> httpx.Response:
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.post(f"{self.url}{path}", json=json, headers=headers, timeout=30)

    def chat(
        self, key: str, content: str, purpose: str | None = None, **extra: Any
    ) -> httpx.Response:
        headers = {"X-AUP-Purpose": purpose} if purpose else {}
        body = {"model": "llama", "messages": [{"role": "user", "content": content}], **extra}
        return self.post("/v1/chat/completions", body, key, **headers)

    def entries(self, entry_type: str) -> list[dict[str, Any]]:
        import json as _json

        log = self.runtime.audit
        out = []
        for _, leaf in log.tail(log.size):
            entry = _json.loads(leaf)
            if entry["type"] == entry_type:
                out.append(entry["record"])
        return out


def require_embedded_classifier() -> None:
    """Skip unless the shipped classifier artefact loads (it is built by the classifier issue)."""
    from aupgate.classify.artefact import ArtefactError
    from aupgate.classify.embedded import EmbeddedClassifier

    try:
        EmbeddedClassifier.load()
    except ArtefactError as exc:
        pytest.skip(f"the embedded classifier is not available yet: {exc}")


def register(runtime: Runtime) -> Keys:
    reg, now = runtime.registry, runtime.now()
    reg.add_org("Lockheed Martin", "US", "defense-contractor", actor="t", now=now, vetted=True)
    reg.add_grant(
        "Lockheed Martin",
        "national-security",
        actor="t",
        justification="national-security partner",
        now=now,
        expires=now + timedelta(days=30),
    )
    reg.add_org("Tiny Robotics Inc", "US", "commercial", actor="t", now=now)
    reg.add_org("Ministère des Armées", "FR", "government", actor="t", now=now, vetted=True)

    def key(org: str, purposes: list[str], default: str | None) -> str:
        _, secret = reg.create_key(
            org,
            "test",
            actor="t",
            now=now,
            allowed_models=["llama"],
            allowed_purposes=purposes,
            default_purpose=default,
        )
        return secret

    return Keys(
        lockheed=key("Lockheed Martin", ["national-security", "general"], None),
        startup=key("Tiny Robotics Inc", ["software-development", "general"], "general"),
        ministry=key("Ministère des Armées", ["national-security"], "national-security"),
    )


def make_runtime(home: Path, **settings: Any) -> Runtime:
    base: Settings = load_settings(home=home)
    return Runtime(base.model_copy(update=settings))


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    with ServerThread(fake.app) as server:
        fake.url = f"{server.url}/v1"
        yield fake


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change gateway settings."""
    return {}


@pytest.fixture
def env(
    tmp_path: Path, upstream: FakeUpstream, settings_overrides: dict[str, Any]
) -> Iterator[Env]:
    overrides = {"upstream_url": upstream.url, "upstream_timeout_s": 5.0, **settings_overrides}
    runtime = make_runtime(tmp_path, **overrides)
    keys = register(runtime)
    classifier = KeywordClassifier()
    app = create_app(runtime, classifier=classifier)
    try:
        with ServerThread(app) as server:
            yield Env(runtime, upstream, keys, server.url, classifier)
    finally:
        runtime.close()
