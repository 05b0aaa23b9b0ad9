"""Split a run of letters into words: "openinghours" -> "opening hours".

Letter-spaced obfuscation ("o p e n i n g h o u r s") loses the word boundaries when the
letters are joined, and so do one-letter words ("b u i l d a b o m b"). The pieces are those of
the MiniLM WordPiece vocabulary that both classifier stages read (`artefacts/tokenizer.json`):
whole words start a word, `##` pieces continue one ("jam" + "##ming"). Its entries are roughly
in order of frequency, so a piece costs log(rank) plus a constant, as in Zipf-cost word
segmentation, and the cheapest cover of the run wins. The same ranks tell how much of a text
is common English (`english_share`), which the encoder stage reads best.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from typing import Final, NamedTuple

from aupgate.classify.artefact import DEFAULT_DIR

_TOKENIZER: Final = DEFAULT_DIR / "tokenizer.json"
_FIRST_WORD: Final = "the"  # the vocabulary's words start here; before: characters, [unused]
_ONE_LETTER_WORDS: Final = ("a", "i")
_MAX_PIECE: Final = 24
# A longer run is cut into chunks of this many letters first (a word may break at a cut).
MAX_RUN: Final = 256
_WORD: Final = re.compile(r"\w+")


class Pieces(NamedTuple):
    """Cost of each whole-word piece and of each continuation (`##`) piece, by its text, and
    each whole word's rank (0 for "the")."""

    words: dict[str, float]
    continuations: dict[str, float]
    ranks: dict[str, int]


@cache
def pieces() -> Pieces:
    vocab: dict[str, int] = json.loads(_TOKENIZER.read_text("utf-8"))["model"]["vocab"]
    first = vocab[_FIRST_WORD]
    per_piece = math.log(math.log(len(vocab)))

    def cost(token_id: int) -> float:
        return math.log(max(token_id - first, 0) + 1) + per_piece

    words: dict[str, float] = {}
    continuations: dict[str, float] = {}
    ranks: dict[str, int] = {}
    for token, token_id in vocab.items():
        text = token.removeprefix("##")
        if not (text.isascii() and text.isalpha()):
            continue
        if token.startswith("##"):
            continuations[text] = cost(token_id)
        elif len(text) > 1 and token_id >= first:
            words[text] = cost(token_id)
            ranks[text] = token_id - first
    for letter in _ONE_LETTER_WORDS:
        words[letter] = cost(first)
        ranks[letter] = 0
    return Pieces(words, continuations, ranks)


def is_common_word(text: str, top: int = 5000) -> bool:
    """Whether `text` (any case) is one of the vocabulary's `top` most frequent whole words."""
    return pieces().ranks.get(text.lower(), top) < top


# Prose, as opposed to code, numbers or emoji: this many letters, this share of what is visible.
MIN_PROSE_LETTERS: Final = 12
MIN_PROSE_SHARE: Final = 0.6


def is_prose(text: str) -> bool:
    """Whether `text` reads as words of some language (any script) rather than as code,
    numbers or symbols: at least `MIN_PROSE_LETTERS` letters, making up at least
    `MIN_PROSE_SHARE` of its visible characters."""
    letters = sum(map(str.isalpha, text))
    visible = len(text) - sum(map(str.isspace, text))
    return letters >= MIN_PROSE_LETTERS and letters >= MIN_PROSE_SHARE * visible


def english_share(text: str) -> float:
    """The share of `text`'s words that are common English words (0.0 for no words): how much
    of it a reader of English-only text, such as the MiniLM encoder, can follow."""
    words = _WORD.findall(text)
    return sum(is_common_word(w) for w in words) / len(words) if words else 0.0


def split_words(letters: str) -> list[str] | None:
    """`letters` cut into words (case kept), or None if no cover by vocabulary pieces exists."""
    words, continuations, _ = pieces()
    folded = letters.lower()
    n = len(folded)
    if n == 0 or n > MAX_RUN:
        return None
    # best[i]: (cost of the cheapest cover of folded[:i], start of its last piece, starts a word)
    best: list[tuple[float, int, bool] | None] = [None] * (n + 1)
    best[0] = (0.0, 0, True)
    for end in range(1, n + 1):
        for start in range(max(0, end - _MAX_PIECE), end):
            before = best[start]
            if before is None:
                continue
            piece = folded[start:end]
            options = [(words.get(piece), True)]
            if start > 0:  # a word cannot begin with a continuation
                options.append((continuations.get(piece), False))
            for piece_cost, starts_word in options:
                if piece_cost is None:
                    continue
                total = before[0] + piece_cost
                current = best[end]
                if current is None or total < current[0]:
                    best[end] = (total, start, starts_word)
    if best[n] is None:
        return None
    out: list[str] = []
    tail = ""  # continuation pieces met so far (walking back), glued to the word they end
    end = n
    while end > 0:
        step = best[end]
        assert step is not None
        _, start, starts_word = step
        if starts_word:
            out.append(letters[start:end] + tail)
            tail = ""
        else:
            tail = letters[start:end] + tail
        end = start
    return out[::-1]


def words_of(letters: str) -> list[str]:
    """`letters` as words: each chunk of at most `MAX_RUN` letters cut into words where a
    cover exists, left whole where none does."""
    out: list[str] = []
    for start in range(0, len(letters), MAX_RUN):
        chunk = letters[start : start + MAX_RUN]
        out.extend(split_words(chunk) or [chunk])
    return out
