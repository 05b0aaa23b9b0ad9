"""Llama Guard over an OpenAI-compatible server: prompt per guard version, verdict parsing,
S-code mapping onto our taxonomy, and a score from the first token's log-probability.

S-code numbering differs between guard versions, so every table is keyed by version. Llama Guard
has no category for AUP 2.1 (military, warfare, nuclear use, espionage, ITAR), critical
infrastructure, spam, impersonation, discrimination in decisions, or safety circumvention: it
scores those 0 and says so in `covers`; run it in an ensemble with the embedded model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import httpx

from aupgate.classify.backend import ClassifyError, check_text, classification
from aupgate.decision import Classification, ClassifierIdentity

# Prompt-side short names (llama-stack / llama-cookbook), S1-S14.
_LG3_NAMES: Final = (
    "Violent Crimes", "Non-Violent Crimes", "Sex Crimes", "Child Exploitation", "Defamation",
    "Specialized Advice", "Privacy", "Intellectual Property", "Indiscriminate Weapons", "Hate",
    "Self-Harm", "Sexual Content", "Elections", "Code Interpreter Abuse",
)  # fmt: skip
# Our categories per code (AUP mapping of reference/llama-aup.md section 5.3).
_LG3_MAP: Final[dict[str, tuple[str, ...]]] = {
    "S1": ("violence",),
    "S2": ("criminal-activity",),
    "S3": ("sexual-exploitation",),
    "S4": ("child-safety",),
    "S5": ("defamation",),
    "S6": ("unlicensed-practice",),
    "S7": ("privacy",),
    "S8": ("ip-infringement",),
    "S9": ("cbrn-weapons",),
    "S10": ("harassment",),
    "S11": ("self-harm",),
    "S12": ("sexual-exploitation",),
    "S13": ("fraud-disinformation",),
    "S14": ("malicious-code",),
}


@dataclass(frozen=True, slots=True)
class GuardVersion:
    """One Llama Guard release: its category list, code mapping and chat wrapping."""

    name: str
    categories: Mapping[str, str]  # code -> prompt name
    mapping: Mapping[str, tuple[str, ...]]  # code -> our categories
    user_header: str
    assistant_header: str

    @property
    def covers(self) -> frozenset[str]:
        return frozenset(c for cats in self.mapping.values() for c in cats)


def _codes(n: int) -> dict[str, str]:
    return {f"S{i + 1}": _LG3_NAMES[i] for i in range(n)}


_LLAMA3 = ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n",
           "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")  # fmt: skip
_LLAMA4 = ("<|begin_of_text|><|header_start|>user<|header_end|>\n\n",
           "<|eot|><|header_start|>assistant<|header_end|>\n\n")  # fmt: skip

VERSIONS: Final[dict[str, GuardVersion]] = {
    # 3-1B was trained on S1-S13 (no Code Interpreter Abuse).
    "llama-guard-3-1b": GuardVersion(
        "llama-guard-3-1b", _codes(13),
        {k: v for k, v in _LG3_MAP.items() if k != "S14"}, *_LLAMA3,
    ),
    "llama-guard-3-8b": GuardVersion("llama-guard-3-8b", _codes(14), _LG3_MAP, *_LLAMA3),
    "llama-guard-4": GuardVersion("llama-guard-4", _codes(14), _LG3_MAP, *_LLAMA4),
}  # fmt: skip

Role = Literal["user", "assistant"]


def build_prompt(
    version: GuardVersion, conversation: Sequence[tuple[Role, str]], excluded: frozenset[str]
) -> str:
    """The full guard prompt (completion endpoints); judges the last message's role."""
    if not conversation:
        raise ValueError("conversation is empty")
    agent = "User" if conversation[-1][0] == "user" else "Agent"
    listed = "\n".join(f"{c}: {n}." for c, n in version.categories.items() if c not in excluded)
    turns = "\n\n".join(f"{'User' if r == 'user' else 'Agent'}: {t}" for r, t in conversation)
    body = (
        f"Task: Check if there is unsafe content in '{agent}' messages in conversations "
        "according our safety policy with the below categories.\n\n"
        f"<BEGIN UNSAFE CONTENT CATEGORIES>\n{listed}\n<END UNSAFE CONTENT CATEGORIES>\n\n"
        f"<BEGIN CONVERSATION>\n\n{turns}\n\n<END CONVERSATION>\n\n"
        f"Provide your safety assessment for ONLY THE LAST {agent} message in the above "
        "conversation:\n - First line must read 'safe' or 'unsafe'.\n"
        " - If unsafe, a second line must include a comma-separated list of violated categories."
    )
    return version.user_header + body + version.assistant_header


class VerdictError(ClassifyError):
    """The guard's answer is not a verdict we can trust (callers fail closed)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    unsafe: bool
    codes: tuple[str, ...] = ()


_CODE: Final = re.compile(r"^s(\d{1,2})$", re.IGNORECASE)


def parse_verdict(
    text: str, version: GuardVersion, excluded: frozenset[str] = frozenset()
) -> Verdict:
    """Parse `safe` / `unsafe\\nS1,S9` leniently (case, whitespace, spaces after commas).

    Unsafe without codes, unknown codes, or anything else raise `VerdictError`. Codes that are
    excluded are dropped; an unsafe verdict with only excluded codes is safe (as in llama-stack).
    """
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        raise VerdictError("empty verdict from the guard")
    head, *rest = lines
    words = head.replace(",", " ").split()
    first = words[0].lower().rstrip(".:")
    if first == "safe" and len(words) == 1 and not rest:
        return Verdict(False)
    if first != "unsafe":
        raise VerdictError(f"unexpected verdict {text[:80]!r}")
    raw = [c for part in [" ".join(words[1:]), *rest] for c in re.split(r"[,\s]+", part) if c]
    codes: list[str] = []
    for token in raw:
        m = _CODE.match(token.rstrip("."))
        code = f"S{int(m.group(1))}" if m else token
        if code not in version.categories:
            raise VerdictError(f"unknown category {token!r} for {version.name} in {text[:80]!r}")
        codes.append(code)
    if not codes:
        raise VerdictError(f"unsafe verdict without categories: {text[:80]!r}")
    kept = tuple(dict.fromkeys(c for c in codes if c not in excluded))
    return Verdict(bool(kept), kept)


def first_token_unsafe_probability(top_logprobs: Mapping[str, float]) -> float | None:
    """P(unsafe) from the first token's top log-probabilities, or None if neither word is there."""
    p_unsafe = sum(
        math.exp(lp) for tok, lp in top_logprobs.items() if tok.strip().lower() == "unsafe"
    )
    p_safe = sum(math.exp(lp) for tok, lp in top_logprobs.items() if tok.strip().lower() == "safe")
    if p_unsafe + p_safe == 0:
        return None
    return p_unsafe / (p_unsafe + p_safe)


def category_scores(
    verdict: Verdict, version: GuardVersion, p_unsafe: float | None
) -> dict[str, float]:
    """Our categories' scores: the unsafe probability on the named codes' categories, else
    1 - P(safe) spread nowhere (0). Without log-probabilities the verdict counts as certain."""
    from aupgate.classify.taxonomy import CATEGORIES

    scores = dict.fromkeys(CATEGORIES, 0.0)
    if verdict.unsafe:
        p = 1.0 if p_unsafe is None else p_unsafe
        for code in verdict.codes:
            for category in version.mapping[code]:
                scores[category] = max(scores[category], p)
    return scores


@dataclass(slots=True)
class LlamaGuardClassifier:
    """Transport over /v1/completions (raw prompt) or /v1/chat/completions (server template)."""

    client: httpx.Client
    model: str
    version: GuardVersion
    endpoint: Literal["completions", "chat"] = "completions"
    excluded: frozenset[str] = frozenset()
    timeout_s: float = 30.0
    _identity: ClassifierIdentity = field(init=False)

    def __post_init__(self) -> None:
        unknown = self.excluded - set(self.version.categories)
        if unknown:
            raise ValueError(f"excluded codes {sorted(unknown)} are not {self.version.name} codes")
        self._identity = ClassifierIdentity("llama-guard", f"{self.version.name}:{self.model}", "-")

    @property
    def identity(self) -> ClassifierIdentity:
        return self._identity

    @property
    def covers(self) -> frozenset[str]:
        return self.version.covers

    def _request(self, conversation: Sequence[tuple[Role, str]]) -> tuple[str, dict[str, float]]:
        body: dict[str, Any]
        if self.endpoint == "completions":
            path = "/v1/completions"
            body = {
                "prompt": build_prompt(self.version, conversation, self.excluded),
                "logprobs": 5,
            }
        else:
            path = "/v1/chat/completions"
            messages = [{"role": r, "content": t} for r, t in conversation]
            body = {"messages": messages, "logprobs": True, "top_logprobs": 5}
        try:
            payload = {"model": self.model, "max_tokens": 12, "temperature": 0, **body}
            resp = self.client.post(path, json=payload, timeout=self.timeout_s)
            resp.raise_for_status()
            choice = resp.json()["choices"][0]
        except (httpx.HTTPError, ValueError, KeyError, IndexError) as exc:
            raise ClassifyError(
                f"llama guard at {self.client.base_url}{path} failed: {exc}"
            ) from exc
        return _text_and_top(choice)

    def classify_conversation(self, conversation: Sequence[tuple[Role, str]]) -> Classification:
        text, top = self._request(conversation)
        verdict = parse_verdict(text, self.version, self.excluded)
        p = first_token_unsafe_probability(top) if top else None
        return classification(category_scores(verdict, self.version, p), self._identity)

    def classify(self, text: str) -> Classification:
        return self.classify_conversation([("user", check_text(text))])

    def classify_batch(self, texts: Sequence[str]) -> list[Classification]:
        return [self.classify(t) for t in texts]


def _first_word(tokens: Sequence[str], tops: Sequence[Any]) -> dict[str, float]:
    """Top log-probs at the first generated token that is not whitespace (guards often start
    with a newline)."""
    for token, top in zip(tokens, tops, strict=False):
        if token.strip():
            return {str(k): float(v) for k, v in (top or {}).items()}
    return {}


def _text_and_top(choice: Mapping[str, Any]) -> tuple[str, dict[str, float]]:
    """Verdict text and first-word top log-probs from either response shape."""
    logprobs = choice.get("logprobs") or {}
    if "message" in choice:
        text = str(choice["message"].get("content") or "")
        content = logprobs.get("content") or []
        tops = [{t["token"]: t["logprob"] for t in c.get("top_logprobs", [])} for c in content]
        return text, _first_word([str(c["token"]) for c in content], tops)
    text = str(choice.get("text") or "")
    tokens = logprobs.get("tokens") or [text]
    return text, _first_word(tokens, logprobs.get("top_logprobs") or [])
