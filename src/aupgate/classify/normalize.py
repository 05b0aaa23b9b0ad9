"""Cheap normalisation against obfuscation, applied before every classification.

What it undoes: compatibility forms (NFKC: full-width letters, ligatures), zero-width and other
invisible characters, Cyrillic/Greek look-alike letters inside Latin words, letters spaced apart
("b o m b"; a run of several spaced words is cut into lexicon words, `segment`), leetspeak
inside words ("h4ck", "b0mb"), and base64 segments (replaced by the
text they decode to, when that is prose). Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from typing import Final

from aupgate.classify.segment import split_words

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
# Only words that mix letters with these digits/symbols are folded: "3 tips" stays as it is.
_LEET: Final[dict[int, str]] = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_LEET_WORD: Final = re.compile(r"(?<![\w@$])(?=[\w@$]*[a-zA-Z])(?=[\w@$]*[013457@$])[\w@$]+")
# Three or more single letters separated by single spaces/dots/dashes: "b o m b", "k.i.l.l".
_SPACED: Final = re.compile(r"\b(?:[A-Za-z][ .\-_*]){2,}[A-Za-z]\b")
_BASE64: Final = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
# Decoded bytes must look like text to count; random identifiers decode to garbage.
_MIN_PRINTABLE: Final = 0.9


def _fold_leet(match: re.Match[str]) -> str:
    word = match.group(0)
    if word.isdigit() or re.fullmatch(r"\d+[a-zA-Z]{1,3}", word):  # numbers, "3rd", "10km"
        return word
    return word.translate(_LEET)


def _unspace(match: re.Match[str]) -> str:
    letters = re.sub(r"[ .\-_*]", "", match.group(0))
    words = split_words(letters)
    return letters if words is None else " ".join(words)


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


def _replace_base64(match: re.Match[str]) -> str:
    plain = _decode(match.group(0))
    return match.group(0) if plain is None else normalize(plain)


def normalize(text: str) -> str:
    """The text a classifier should read: de-obfuscated, base64 prose decoded in place."""
    out = _CONTROL.sub(" ", _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)))
    # Decode before folding: folding would corrupt the base64 alphabet.
    out = _BASE64.sub(_replace_base64, out)
    return _LEET_WORD.sub(_fold_leet, _SPACED.sub(_unspace, out.translate(_HOMOGLYPHS)))


def dedup_key(text: str) -> str:
    """Key for exact de-duplication: normalised, lower case, letters and digits only."""
    folded = normalize(text).casefold()
    return " ".join(re.findall(r"\w+", folded))
