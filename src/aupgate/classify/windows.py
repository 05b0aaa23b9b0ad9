"""Long inputs are classified in pieces; a category's score is its max over the pieces.

Short texts (up to `WINDOW_WORDS` words) are one piece. Longer ones give overlapping windows of
`WINDOW_WORDS` words every `STRIDE_WORDS` words, plus every sentence on its own: a one-sentence ask
buried in a long document would otherwise be diluted by the words around it in any window.
"""

from __future__ import annotations

import re
from typing import Final

WINDOW_WORDS: Final = 64
STRIDE_WORDS: Final = 32
# Sentences shorter than this carry too little to judge on their own.
MIN_SENTENCE_WORDS: Final = 4
_WORD: Final = re.compile(r"\S+")
_SENTENCE: Final = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")


def _word_windows(text: str, size: int, stride: int) -> list[str]:
    spans = [m.span() for m in _WORD.finditer(text)]
    out = []
    for start in range(0, max(len(spans) - size + stride, 1), stride):
        chunk = spans[start : start + size]
        out.append(text[chunk[0][0] : chunk[-1][1]])
        if start + size >= len(spans):
            break
    return out


def windows(text: str, size: int = WINDOW_WORDS, stride: int = STRIDE_WORDS) -> list[str]:
    """The text itself if it is short, else word windows and sentences (see module doc)."""
    if not 0 < stride <= size:
        raise ValueError(f"need 0 < stride <= size, got stride={stride} size={size}")
    if len(_WORD.findall(text)) <= size:
        return [text]
    out = _word_windows(text, size, stride)
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0).strip()
        n = len(_WORD.findall(sentence))
        if MIN_SENTENCE_WORDS <= n <= size:
            out.append(sentence)
    return list(dict.fromkeys(out))
