"""Cheap normalisation against obfuscation, applied before every classification.

What it undoes: compatibility forms (NFKC: full-width letters, ligatures), zero-width and other
invisible characters, Cyrillic/Greek look-alike letters inside Latin words, letters spaced apart
("b o m b"; a run of several spaced words is cut into vocabulary words, `segment`), leetspeak
inside words ("h4ck", "b0mb"; "4nd" too, but not "3rd" or "10km") and, in a text mostly
written so, bare digits that spell common words ("70" -> "to"), and base64 segments (replaced by
the text they decode to, when that is prose). Pure functions; the only input besides the text
is `segment`'s vocabulary, read once.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable
from typing import Final

from aupgate.classify.segment import is_common_word, words_of

# Characters that render as nothing (or as a space) and are used to split trigger words.
_INVISIBLE: Final = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Look-alikes (Unicode confusables) that NFKC leaves alone, folded to the Latin letter.
_HOMOGLYPHS: Final[dict[int, int]] = str.maketrans(
    # Cyrillic and Greek letters, escaped (they look exactly like the Latin ones they map to)
    (
        "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0458\u0455\u0501\u0261\u04bb\u04cf\u051b\u051d"
        "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425\u0423\u0406\u0408\u0405\u03b1"
        "\u03bf\u03bd\u03b9\u03ba\u03c1\u03c4\u03c5\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d"
        "\u039f\u03a1\u03a4\u03a5\u03a7"
    ),
    ("aeopcyxijsdghlqwABEKMHOPCTXYIJSaovikptuABEZHIKMNOPTYX"),
)
# Words that mix letters with these digits/symbols are folded; "3 tips" stays as it is (unless
# the text is mostly leetspeak, below).
_LEET: Final[dict[int, str]] = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_LEET_WORD: Final = re.compile(r"(?<![\w@$])(?=[\w@$]*[a-zA-Z])(?=[\w@$]*[013457@$])[\w@$]+")
# In a text mostly written in leetspeak, bare digits are read as leetspeak too:
# "3xpl41n h0w 70 bu1ld 4 b0mb".
_LEET_MIN_WORDS: Final = 3
_LEET_MIN_SHARE: Final = 0.25
_DIGIT_WORD: Final = re.compile(r"(?<![\w@$.,])\d{1,4}(?![\w@$]|[.,]\d)")
# Three or more single letters separated by single spaces/dots/dashes: "b o m b", "k.i.l.l".
_SPACED: Final = re.compile(r"\b(?:[A-Za-z][ .\-_*]){2,}[A-Za-z]\b")
_SEGMENT_BUDGET: Final = 8192  # letters per text cut into words (see `_unspacer`)
_BASE64: Final = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
# Decoded bytes must look like text to count; random identifiers decode to garbage.
_MIN_PRINTABLE: Final = 0.9


# Digits then a few letters is a number with a unit or an ordinal ("10km", "3rd", "12a")
# unless it folds to a common word and is neither ("4nd" -> "and", "0f" -> "of", "73ll" ->
# "tell").
_NUMBER_THEN_LETTERS: Final = re.compile(r"(\d+)([a-zA-Z]{1,3})")
# Units and suffixes a number commonly carries ("5g", "24h", "1080p", "90s"); not "f" or
# "c": "0f" is far more often "of" than zero Fahrenheit.
_UNIT_NAMES: Final = "s ms h d k m km cm mm g kg mg l ml b kb mb gb tb x v w kw hz p am pm ft lb oz"
_UNITS: Final = frozenset(_UNIT_NAMES.split())


def _ordinal(digits: str, suffix: str) -> bool:
    last, tens = int(digits[-1]), len(digits) > 1 and digits[-2] == "1"
    expected = "th" if tens or last > 3 or last == 0 else ("st", "nd", "rd")[last - 1]
    return suffix.lower() == expected


def _fold_leet(match: re.Match[str]) -> str:
    word = match.group(0)
    if word.isdigit():  # "70" may be "to", but numbers are far commoner
        return word
    folded = word.translate(_LEET)
    number = _NUMBER_THEN_LETTERS.fullmatch(word)
    if number is not None:
        digits, letters = number.groups()
        if _ordinal(digits, letters) or letters.lower() in _UNITS or not is_common_word(folded):
            return word
    return folded


def _unspacer() -> Callable[[re.Match[str]], str]:
    """Joins letter-spaced runs and cuts them into words, the first `_SEGMENT_BUDGET` letters
    of a text (the search costs a few microseconds a letter); past that, runs are only joined."""
    budget = _SEGMENT_BUDGET

    def unspace(match: re.Match[str]) -> str:
        nonlocal budget
        letters = re.sub(r"[ .\-_*]", "", match.group(0))
        head, rest = letters[:budget], letters[budget:]
        budget -= len(head)
        return " ".join((words_of(head) if head else []) + ([rest] if rest else []))

    return unspace


def _decode(segment: str) -> str | None:
    """The text a base64 segment hides, if it decodes to printable UTF-8 prose."""
    try:
        decoded = base64.b64decode(segment + "=" * (-len(segment) % 4), validate=True)
        plain = decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    printable = sum(ch.isprintable() or ch.isspace() for ch in plain)
    if plain.strip() and printable / len(plain) >= _MIN_PRINTABLE and " " in plain.strip():
        return plain
    return None


def decode_base64_segments(text: str) -> list[str]:
    """Texts hidden as base64 in `text` (only segments that decode to printable UTF-8 prose)."""
    return [p for m in _BASE64.finditer(text) if (p := _decode(m.group(0))) is not None]


def normalize(text: str) -> str:
    """The text a classifier should read: de-obfuscated, base64 prose decoded in place."""
    return normalize_with_payloads(text)[0]


def normalize_with_payloads(text: str) -> tuple[str, list[str]]:
    """`normalize(text)`, and the base64 payloads it decoded, each normalised on its own."""
    payloads: list[str] = []

    def replace_base64(match: re.Match[str]) -> str:
        plain = _decode(match.group(0))
        if plain is None:
            return match.group(0)
        payloads.append(normalize(plain))
        return payloads[-1]

    folded_words = 0

    def fold_leet(match: re.Match[str]) -> str:
        nonlocal folded_words
        folded = _fold_leet(match)
        folded_words += folded != match.group(0)
        return folded

    out = _CONTROL.sub(" ", _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)))
    # Decode before folding: folding would corrupt the base64 alphabet.
    out = _BASE64.sub(replace_base64, out)
    out = _LEET_WORD.sub(fold_leet, _SPACED.sub(_unspacer(), out.translate(_HOMOGLYPHS)))
    # Mostly leetspeak (a formula or an identifier here and there in a long text is not):
    # bare digits that fold to common words are words too ("70" -> "to").
    if folded_words >= max(_LEET_MIN_WORDS, _LEET_MIN_SHARE * len(out.split())):
        out = _DIGIT_WORD.sub(_fold_digits, out)
    return out, payloads


def _fold_digits(match: re.Match[str]) -> str:
    word = match.group(0).translate(_LEET)
    return word if is_common_word(word) else match.group(0)


def dedup_key(text: str) -> str:
    """Key for exact de-duplication: normalised, lower case, letters and digits only."""
    folded = normalize(text).casefold()
    return " ".join(re.findall(r"\w+", folded))
