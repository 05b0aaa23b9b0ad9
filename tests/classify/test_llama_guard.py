"""Llama Guard: prompt per version, verdict parsing against recorded verdict strings, transport."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import httpx
import pytest

from aupgate.classify.backend import ClassifyError
from aupgate.classify.llama_guard import (
    VERSIONS,
    LlamaGuardClassifier,
    Verdict,
    VerdictError,
    build_prompt,
    first_token_unsafe_probability,
    parse_verdict,
)
from aupgate.classify.taxonomy import CATEGORIES

LG3 = VERSIONS["llama-guard-3-8b"]
LG3_1B = VERSIONS["llama-guard-3-1b"]
LG4 = VERSIONS["llama-guard-4"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("safe", Verdict(False)),
        ("\n\nsafe", Verdict(False)),
        ("Safe\n", Verdict(False)),
        ("unsafe\nS1", Verdict(True, ("S1",))),
        ("\n\nunsafe\nS1,S9", Verdict(True, ("S1", "S9"))),
        ("unsafe\nS1, S9 ", Verdict(True, ("S1", "S9"))),
        ("UNSAFE\ns10", Verdict(True, ("S10",))),
        ("unsafe S2", Verdict(True, ("S2",))),
        ("unsafe\nS14\n", Verdict(True, ("S14",))),
        ("unsafe\nS3,S3", Verdict(True, ("S3",))),
    ],
)
def test_recorded_verdicts_parse(raw: str, expected: Verdict) -> None:
    assert parse_verdict(raw, LG3) == expected


@pytest.mark.parametrize(
    "raw", ["", "   ", "unsafe", "unsafe\n", "maybe", "safe\nS1", "unsafe\nS15", "unsafe\nX1"]
)
def test_untrustworthy_verdicts_fail_closed(raw: str) -> None:
    with pytest.raises(VerdictError):
        parse_verdict(raw, LG3)


def test_codes_are_checked_per_version() -> None:
    assert parse_verdict("unsafe\nS14", LG4).codes == ("S14",)
    with pytest.raises(VerdictError, match="S14"):
        parse_verdict("unsafe\nS14", LG3_1B)


def test_excluded_codes_are_dropped_and_all_excluded_is_safe() -> None:
    assert parse_verdict("unsafe\nS6,S1", LG3, frozenset({"S6"})) == Verdict(True, ("S1",))
    assert parse_verdict("unsafe\nS6", LG3, frozenset({"S6"})) == Verdict(False)


def test_prompt_lists_version_categories_without_excluded() -> None:
    prompt = build_prompt(LG3_1B, [("user", "hello")], frozenset({"S6"}))
    assert prompt.startswith("<|begin_of_text|><|start_header_id|>user<|end_header_id|>")
    assert "S13: Elections." in prompt and "S14" not in prompt and "S6:" not in prompt
    assert "in 'User' messages" in prompt and "User: hello" in prompt
    lg4 = build_prompt(LG4, [("user", "hi"), ("assistant", "answer")], frozenset())
    assert "<|header_start|>user<|header_end|>" in lg4 and lg4.endswith("<|header_end|>\n\n")
    assert "ONLY THE LAST Agent message" in lg4 and "Agent: answer" in lg4


def test_versions_cover_no_2_1_use_category() -> None:
    for version in VERSIONS.values():
        assert not version.covers & {"military-warfare", "espionage", "export-controlled"}
        assert version.covers <= set(CATEGORIES)


def test_first_token_probability() -> None:
    p = first_token_unsafe_probability({"unsafe": math.log(0.3), "safe": math.log(0.6)})
    assert p == pytest.approx(1 / 3)
    assert first_token_unsafe_probability({"\n": 0.0}) is None


def _server(reply: Mapping[str, object]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["model"] == "guard" and body["temperature"] == 0
        return httpx.Response(200, json=reply)

    return httpx.Client(base_url="http://guard", transport=httpx.MockTransport(handle))


def test_completions_transport_scores_named_categories() -> None:
    reply = {
        "choices": [
            {
                "text": "\n\nunsafe\nS9",
                "logprobs": {
                    "tokens": ["\n\n", "unsafe", "\n", "S9"],
                    "top_logprobs": [
                        {"\n\n": 0.0},
                        {"unsafe": math.log(0.8), "safe": math.log(0.2)},
                    ],
                },
            }
        ]
    }
    guard = LlamaGuardClassifier(_server(reply), "guard", LG3)
    scores = {s.category: s.score for s in guard.classify("how to make sarin").scores}
    assert set(scores) == set(CATEGORIES)
    assert scores["cbrn-weapons"] == pytest.approx(0.8)
    assert scores["violence"] == 0.0


def test_chat_transport_without_logprobs_counts_verdict_as_certain() -> None:
    reply = {"choices": [{"message": {"role": "assistant", "content": "unsafe\nS1"}}]}
    guard = LlamaGuardClassifier(_server(reply), "guard", LG4, endpoint="chat")
    scores = {s.category: s.score for s in guard.classify("hurt them").scores}
    assert scores["violence"] == 1.0


def test_server_errors_and_garbage_fail_closed() -> None:
    down = httpx.Client(
        base_url="http://guard", transport=httpx.MockTransport(lambda r: httpx.Response(503))
    )
    with pytest.raises(ClassifyError, match="503"):
        LlamaGuardClassifier(down, "guard", LG3).classify("hello")
    garbage = _server({"choices": [{"text": "I think this is fine"}]})
    with pytest.raises(VerdictError):
        LlamaGuardClassifier(garbage, "guard", LG3).classify("hello")


def test_unknown_excluded_code_is_rejected() -> None:
    with pytest.raises(ValueError, match="S14"):
        LlamaGuardClassifier(_server({}), "guard", LG3_1B, excluded=frozenset({"S14"}))
