"""Denied-party screening: read OFAC SDN / Consolidated Screening List files, match names fuzzily.

Pure module: the loader reads only the file it is given, and the `Screener` keeps everything in
memory; the registry decides what a match means for an organisation.

Matching decisions (measured in benchmarks/screening_precision.py):
- Names are normalised (case, diacritics, punctuation, legal forms, a few abbreviations) and
  scored with `fuzz.ratio` on the tokens both sorted (word order) and as written (a typo in a
  first letter reorders sorted tokens); the better of the two counts ("hybrid"). Subset-based
  scorers (token_set_ratio, WRatio) score "Northwestern University" against "Northwestern
  Polytechnical University" at 90+: more false hits, and WRatio is 30x slower.
- Every entry type is screened, individuals included (a sole trader can register as an
  organisation); the match reports `entry_type` so an administrator sees what was hit.
- OFAC puts its "weak" a.k.a.s (nicknames, common acronyms) in the Remarks column of sdn.csv
  (OFAC FAQs 122-124: generic names that "may generate a large volume of false hits", which OFAC
  does not expect to be screened). They are kept as `weak_aliases` and match only exactly after
  normalisation, so an organisation registered under one is still caught.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from aupgate.errors import InvalidInputError

# Measured on the SDN list (benchmarks/screening_precision.py): at 90 the hybrid scorer finds 98%
# of noisy spellings and flags 2 of 397 unrelated organisations; 92 flags none but misses 1.2
# points more. A missed sanctioned party costs more than a false hit an administrator clears.
DEFAULT_THRESHOLD = 90.0

Scorer = Literal["hybrid", "token_sort", "ratio", "token_set", "wratio"]
Layout = Literal["ofac-sdn", "ofac-sdn-with-header", "csl"]

SDN_LIST_NAME = "OFAC SDN"
CSL_LIST_NAME = "Consolidated Screening List"


class ScreeningListError(InvalidInputError):
    """A screening list file that cannot be read as one of the supported layouts."""


@dataclass(frozen=True)
class ListEntry:
    """One listed party: its list, id on that list, primary name and aliases."""

    list_name: str
    entry_id: str
    name: str
    aliases: tuple[str, ...]
    entry_type: str
    programs: tuple[str, ...]
    weak_aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScreeningList:
    """A loaded list file with its provenance (layout and content hashes)."""

    list_name: str
    layout: Layout
    entries: tuple[ListEntry, ...]
    sha256: str
    aliases_sha256: str | None = None


@dataclass(frozen=True)
class ScreeningMatch:
    """An organisation name (`query`) that matched `matched_name` of `entry` with `score`."""

    entry: ListEntry
    matched_name: str
    query: str
    score: float


# ---------------------------------------------------------------------------------------------
# Normalisation

# Letters NFKD does not decompose into base letter + combining mark.
_TRANSLITERATION = str.maketrans(
    {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "\u0131": "i"}
)
# Dots and apostrophes are deleted, not spaced, so "S.A." and "O'Neil" stay one token.
_DELETED = re.compile(r"[.'`\u2019\u2018]")
# Hyphenated names are written both ways ("AL-HARAMAIN", "Alharamain"): a second variant joins them.
_DELETED_WITH_HYPHENS = re.compile(r"[.'`\u2019\u2018-]")
_SEPARATORS = re.compile(r"[\W_]+")
_PARENTHESISED = re.compile(r"\([^)]*\)")

_STOP_WORDS = frozenset({"the", "of", "and"})
_CANONICAL = {
    "co": "company",
    "cos": "companies",
    "corp": "corporation",
    "inc": "incorporated",
    "ltd": "limited",
    "pvt": "private",
    "natl": "national",
    "univ": "university",
    "intl": "international",
    "inst": "institute",
    "tech": "technology",
    "dept": "department",
    "govt": "government",
    "assn": "association",
    "assoc": "association",
    "mfg": "manufacturing",
    "bros": "brothers",
    "ctr": "center",
    "centre": "center",
    "defence": "defense",
    "organisation": "organization",
    "holdings": "holding",
}


def _forms(*phrases: str) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(phrase.split()) for phrase in phrases)


# Legal forms say how a party is incorporated, not who it is, so they are dropped from the end,
# and the Russian/Indonesian ones that come first ("OOO ...", "PT ...") from the start.
# "Group" and "Holding" stay: they are part of what names a party (a holding and its operating
# subsidiary can be listed separately).
_LEADING_LEGAL = _forms(
    "ooo", "oao", "zao", "pao", "ao", "jsc", "ojsc", "pjsc", "cjsc", "llc", "pt", "tov",
    "limited liability company",
    "joint stock company",
    "public joint stock company",
    "open joint stock company",
    "closed joint stock company",
    "private joint stock company",
    "aktsionernoe obshchestvo",
    "otkrytoe aktsionernoe obshchestvo",
    "zakrytoe aktsionernoe obshchestvo",
    "publichnoe aktsionernoe obshchestvo",
    "obshchestvo s ogranichennoi otvetstvennostyu",
    "obshchestvo s ogranichennoy otvetstvennostyu",
)  # fmt: skip
_TRAILING_LEGAL = _LEADING_LEGAL | _forms(
    "company", "companies", "corporation", "incorporated", "limited",
    "ltda", "llp", "lp", "plc", "gmbh", "mbh", "ag", "kg", "kgaa",
    "sa", "sas", "sarl", "sal", "srl", "spa", "sl", "bv", "nv", "pty", "pte", "cia",
    "fze", "fzco", "fzc", "fzllc", "dmcc", "ood", "eood", "ad", "as", "ab", "oy", "oyj",
    "kk", "bhd", "tbk", "se", "sae", "cv", "ca",
    "sa de cv", "de cv", "s de rl", "s de rl de cv", "sapi de cv", "sdn bhd",
    "private limited", "sociedad anonima", "anonim sirketi", "limited liability partnership",
    "limited liability", "joint stock", "public joint stock", "private joint stock",
)  # fmt: skip
# Unambiguous legal words are dropped wherever they are: "Rostec State Corporation" is also
# listed as "STATE CORPORATION ROSTEC".
_ANYWHERE_LEGAL = frozenset((
    "company", "companies", "corporation", "incorporated", "limited", "llc", "gmbh", "plc",
    "jsc", "ojsc", "pjsc", "cjsc", "ooo", "oao", "zao", "ltda", "sarl",
))  # fmt: skip
# Long legal words are recognised with one typo ("Limitd", "Comapny"): a misspelt legal form
# would otherwise stay in the name and push a true match below the threshold.
_TYPO_TOLERANT = ("company", "companies", "corporation", "incorporated", "limited", "liability")
_TYPO_MIN_LENGTH = 6
_LONGEST_LEGAL = max(len(form) for form in _TRAILING_LEGAL)


@functools.lru_cache(maxsize=1 << 16)
def _canonical(token: str) -> str:
    if token in _CANONICAL:
        return _CANONICAL[token]
    if len(token) >= _TYPO_MIN_LENGTH:
        for word in _TYPO_TOLERANT:
            if OSA.distance(token, word, score_cutoff=1) <= 1:
                return word
    return token


def _fold(name: str) -> str:
    """Case-folded, without diacritics."""
    text = name.casefold().translate(_TRANSLITERATION)
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKD", text)
    return "".join(char for char in text if not unicodedata.combining(char))


def _normal_form(folded: str, deleted: re.Pattern[str]) -> str:
    text = _SEPARATORS.sub(" ", deleted.sub("", folded.replace("&", " and ")))
    tokens = [_canonical(token) for token in text.split() if token not in _STOP_WORDS]
    return " ".join(_strip_legal_forms(tokens))


def _strip_legal_forms(tokens: list[str]) -> list[str]:
    """Drop legal forms from both ends (longest first) and unambiguous ones anywhere, never
    emptying the name."""
    start, end = 0, len(tokens)
    stripped = True
    while stripped:
        stripped = False
        for size in range(min(_LONGEST_LEGAL, end - start - 1), 0, -1):
            if tuple(tokens[end - size : end]) in _TRAILING_LEGAL:
                end -= size
                stripped = True
                break
            if tuple(tokens[start : start + size]) in _LEADING_LEGAL:
                start += size
                stripped = True
                break
    core = tokens[start:end]
    return [token for token in core if token not in _ANYWHERE_LEGAL] or core


def normalise(name: str) -> str:
    """The comparable form of a party name ("" if it has no letters or digits)."""
    return _normal_form(_fold(name), _DELETED)


def _name_variants(name: str) -> set[str]:
    """Normal forms of a name with and without its parenthesised parts ("(USA)", "(NUDT)") and
    with hyphens as spaces or joined."""
    texts = {name, _PARENTHESISED.sub(" ", name)} if "(" in name else {name}
    folded = {_fold(text) for text in texts}
    variants = {_normal_form(text, _DELETED) for text in folded}
    variants |= {_normal_form(text, _DELETED_WITH_HYPHENS) for text in folded if "-" in text}
    variants.discard("")
    return variants


# ---------------------------------------------------------------------------------------------
# Loading

_EMPTY_SDN_FIELD = "-0-"
_EOF_MARKER = "\x1a"  # OFAC files end with a DOS end-of-file character on its own row.
_SDN_COLUMNS = 12
_ALT_COLUMNS = 5
_SDN_HEADER_IDS = frozenset({"id", "ent_num"})
_SDN_HEADER_NAMES = frozenset({"name", "sdn_name"})
_REMARK_ALIAS = re.compile(r"^[afn]\.k\.a\.\s+(.*)$")
_CSL_REQUIRED = ("source", "name")


def load_screening_list(path: Path, *, aliases: Path | None = None) -> ScreeningList:
    """Load an OFAC SDN CSV (with or without header row) or a Consolidated Screening List CSV.

    `aliases` is OFAC's alt.csv for an SDN file. Raises ScreeningListError naming the file, the
    line and the problem for anything that is not a well-formed list.
    """
    data = _read_bytes(path)
    rows = _csv_rows(path, data)
    first = next(rows, None)
    if first is None:
        raise ScreeningListError(f"{path}: the file is empty")
    line, header = first
    lowered = [cell.strip().casefold() for cell in header]
    if all(column in lowered for column in _CSL_REQUIRED):
        entries = _csl_entries(path, lowered, rows)
        layout: Layout = "csl"
        list_name = CSL_LIST_NAME
    elif len(header) == _SDN_COLUMNS and header[0].strip().isdigit():
        entries = _sdn_entries(path, _chain(first, rows))
        layout, list_name = "ofac-sdn", SDN_LIST_NAME
    elif (
        len(header) == _SDN_COLUMNS
        and lowered[0] in _SDN_HEADER_IDS
        and lowered[1] in _SDN_HEADER_NAMES
    ):
        entries = _sdn_entries(path, rows)
        layout, list_name = "ofac-sdn-with-header", SDN_LIST_NAME
    else:
        raise ScreeningListError(
            f"{path}: line {line}: not a known screening list layout: expected an OFAC SDN row "
            f"(12 columns, entity number first) or a Consolidated Screening List header (with "
            f"'source' and 'name' columns), got {len(header)} column(s) starting {header[0]!r}"
        )
    if not entries:
        raise ScreeningListError(f"{path}: the file has no list entries")
    aliases_sha256 = None
    if aliases is not None:
        if layout == "csl":
            raise ScreeningListError(
                f"{aliases}: an alias file belongs to an OFAC SDN list, not to {path} (CSL)"
            )
        alias_data = _read_bytes(aliases)
        entries = _with_alt_names(aliases, _csv_rows(aliases, alias_data), entries)
        aliases_sha256 = hashlib.sha256(alias_data).hexdigest()
    return ScreeningList(
        list_name=list_name,
        layout=layout,
        entries=tuple(entries),
        sha256=hashlib.sha256(data).hexdigest(),
        aliases_sha256=aliases_sha256,
    )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ScreeningListError(f"{path}: cannot read: {error.strerror or error}") from error


def _csv_rows(path: Path, data: bytes) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV records with the line each starts on; decoding/quoting errors raise."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ScreeningListError(
            f"{path}: line {line}: not UTF-8 text (byte 0x{data[error.start]:02x})"
        ) from error
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ScreeningListError(f"{path}: line {line}: malformed CSV: {error}") from error
        if any(cell.strip() for cell in row):
            yield line, row
        line = reader.line_num + 1


def _chain(
    first: tuple[int, list[str]], rest: Iterator[tuple[int, list[str]]]
) -> Iterator[tuple[int, list[str]]]:
    yield first
    yield from rest


def _rows_until_eof(
    path: Path, rows: Iterator[tuple[int, list[str]]]
) -> Iterator[tuple[int, list[str]]]:
    """OFAC rows up to the end-of-file marker, which must be the last record if present."""
    for line, row in rows:
        if row[0] == _EOF_MARKER and not any(cell.strip() for cell in row[1:]):
            extra = next(rows, None)
            if extra is not None:
                raise ScreeningListError(
                    f"{path}: line {extra[0]}: data after the end-of-file marker on line {line}"
                )
            return
        yield line, row


def _field(cell: str) -> str:
    value = cell.strip()
    return "" if value == _EMPTY_SDN_FIELD else value


def _sdn_entries(path: Path, rows: Iterator[tuple[int, list[str]]]) -> list[ListEntry]:
    entries: list[ListEntry] = []
    seen: set[str] = set()
    for line, row in _rows_until_eof(path, rows):
        where = f"{path}: line {line}"
        if len(row) != _SDN_COLUMNS:
            raise ScreeningListError(
                f"{where}: expected {_SDN_COLUMNS} columns (OFAC SDN layout), got {len(row)}"
            )
        entry_id = row[0].strip()
        if not entry_id.isdigit():
            raise ScreeningListError(f"{where}: entity number {row[0]!r} is not an integer")
        if entry_id in seen:
            raise ScreeningListError(f"{where}: duplicate entity number {entry_id}")
        seen.add(entry_id)
        name = _checked_name(where, "name", _field(row[1]))
        remarks = _field(row[11])
        entries.append(
            ListEntry(
                list_name=SDN_LIST_NAME,
                entry_id=entry_id,
                name=name,
                aliases=(),
                entry_type=_field(row[2]).casefold() or "entity",
                programs=tuple(
                    program.strip(" []") for program in _field(row[3]).split("] [") if program
                ),
                weak_aliases=tuple(
                    _checked_name(where, "a.k.a. in remarks", alias)
                    for alias in _remark_aliases(remarks)
                ),
            )
        )
    return entries


def _remark_aliases(remarks: str) -> Iterator[str]:
    """Names from "a.k.a. 'FOO'; f.k.a. 'BAR'." segments (OFAC's weak aliases)."""
    for segment in remarks.split("; "):
        found = _REMARK_ALIAS.match(segment)
        if found:
            value = found.group(1).strip().removesuffix(".")
            # Quotes delimit the alias; a remark truncated by OFAC lacks the closing one.
            yield value.removeprefix("'").removesuffix("'").strip()


def _checked_name(where: str, what: str, name: str) -> str:
    if not normalise(name):
        raise ScreeningListError(f"{where}: {what} {name!r} has no letters or digits")
    return name


def _split(cell: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in cell.split(";") if part.strip())


def _csl_entries(
    path: Path, header: list[str], rows: Iterator[tuple[int, list[str]]]
) -> list[ListEntry]:
    columns = {name: index for index, name in enumerate(header)}
    id_columns = [columns[name] for name in ("entity_number", "_id") if name in columns]
    if not id_columns:
        raise ScreeningListError(
            f"{path}: line 1: Consolidated Screening List header has no 'entity_number' or '_id'"
        )

    def cell(row: list[str], name: str) -> str:
        return row[columns[name]].strip() if name in columns else ""

    entries: list[ListEntry] = []
    for line, row in _rows_until_eof(path, rows):
        where = f"{path}: line {line}"
        if len(row) != len(header):
            raise ScreeningListError(
                f"{where}: expected {len(header)} columns like the header, got {len(row)}"
            )
        source = cell(row, "source")
        if not source:
            raise ScreeningListError(f"{where}: empty 'source' (the list the entry is on)")
        entry_id = next((row[index].strip() for index in id_columns if row[index].strip()), "")
        if not entry_id:
            raise ScreeningListError(f"{where}: entry has neither 'entity_number' nor '_id'")
        entries.append(
            ListEntry(
                list_name=source,
                entry_id=entry_id,
                name=_checked_name(where, "name", cell(row, "name")),
                aliases=tuple(
                    _checked_name(where, "alt name", alias)
                    for alias in _split(cell(row, "alt_names"))
                ),
                entry_type=cell(row, "type").casefold() or "unspecified",
                programs=_split(cell(row, "programs")),
            )
        )
    return entries


def _with_alt_names(
    path: Path, rows: Iterator[tuple[int, list[str]]], entries: list[ListEntry]
) -> list[ListEntry]:
    """Attach OFAC alt.csv names (ent_num, alt_num, alt_type, alt_name, alt_remarks)."""
    extra: dict[str, list[str]] = {entry.entry_id: [] for entry in entries}
    first = True
    for line, row in _rows_until_eof(path, rows):
        where = f"{path}: line {line}"
        if len(row) != _ALT_COLUMNS:
            raise ScreeningListError(
                f"{where}: expected {_ALT_COLUMNS} columns (OFAC alt.csv layout), got {len(row)}"
            )
        entry_id = row[0].strip()
        if first and entry_id.casefold() in _SDN_HEADER_IDS:
            first = False
            continue
        first = False
        if entry_id not in extra:
            raise ScreeningListError(f"{where}: alias for unknown entity number {entry_id!r}")
        extra[entry_id].append(_checked_name(where, "alias", _field(row[3])))
    return [
        ListEntry(
            list_name=entry.list_name,
            entry_id=entry.entry_id,
            name=entry.name,
            aliases=entry.aliases + tuple(extra[entry.entry_id]),
            entry_type=entry.entry_type,
            programs=entry.programs,
            weak_aliases=entry.weak_aliases,
        )
        for entry in entries
    ]


# ---------------------------------------------------------------------------------------------
# Matching


def _sorted_tokens(key: str) -> str:
    return " ".join(sorted(key.split()))


def _as_is(key: str) -> str:
    return key


# A scorer is fuzz scorer applied to one or more arrangements of the normal form; the score is the
# best over them. Sorting tokens makes word order irrelevant but moves a token whose first letter
# has a typo ("Wccidental"), so "hybrid" also compares the names in their own order.
_ARRANGEMENTS: dict[Scorer, tuple[Callable[[str], str], ...]] = {
    "hybrid": (_sorted_tokens, _as_is),
    "token_sort": (_sorted_tokens,),
    "ratio": (_as_is,),
    "token_set": (_as_is,),
    "wratio": (_as_is,),
}
_SCORERS: dict[Scorer, Callable[..., float]] = {
    "hybrid": fuzz.ratio,
    "token_sort": fuzz.ratio,
    "ratio": fuzz.ratio,
    "token_set": fuzz.token_set_ratio,
    "wratio": fuzz.WRatio,
}

_Owners = list[tuple[int, str]]  # (entry index, listed name) sharing one key


@dataclass(frozen=True)
class _Index:
    arrange: Callable[[str], str]
    choices: list[str]
    owners: list[_Owners]


class Screener:
    """Matches organisation names against list entries; build once, match many times."""

    def __init__(
        self,
        entries: Iterable[ListEntry],
        threshold: float = DEFAULT_THRESHOLD,
        scorer: Scorer = "hybrid",
    ) -> None:
        if not 0.0 < threshold <= 100.0:
            raise ValueError(f"screening threshold must be in (0, 100], got {threshold}")
        self.threshold = threshold
        self._score = _SCORERS[scorer]
        self._entries = tuple(entries)
        named = [
            (index, name, _name_variants(name))
            for index, entry in enumerate(self._entries)
            for name in (entry.name, *entry.aliases)
        ]
        self._indexes = [_index(arrange, named) for arrange in _ARRANGEMENTS[scorer]]
        # Weak aliases match only exactly, in any word order.
        self._exact: dict[str, _Owners] = {}
        for index, entry in enumerate(self._entries):
            for name in entry.weak_aliases:
                for variant in _name_variants(name):
                    self._exact.setdefault(_sorted_tokens(variant), []).append((index, name))

    def match(self, names: Sequence[str], limit: int | None = 10) -> list[ScreeningMatch]:
        """Best match per list entry at or above the threshold over all `names`, best first.

        Raises ValueError for a name with no letters or digits: it cannot be screened.
        """
        best: dict[int, ScreeningMatch] = {}
        for query in names:
            for index, listed, score in self._candidates(query):
                current = best.get(index)
                if current is None or score > current.score:
                    best[index] = ScreeningMatch(self._entries[index], listed, query, score)
        ranked = sorted(
            best.values(), key=lambda m: (-m.score, m.entry.list_name, m.entry.entry_id)
        )
        return ranked[:limit] if limit is not None else ranked

    def _candidates(self, query: str) -> Iterator[tuple[int, str, float]]:
        variants = _name_variants(query)
        if not variants:
            raise ValueError(f"name {query!r} has no letters or digits and cannot be screened")
        for variant in variants:
            for index, listed in self._exact.get(_sorted_tokens(variant), ()):
                yield index, listed, 100.0
            for table in self._indexes:
                found = process.extract(
                    table.arrange(variant),
                    table.choices,
                    scorer=self._score,
                    processor=None,
                    score_cutoff=self.threshold,
                    limit=None,
                )
                for _, score, position in found:
                    for index, listed in table.owners[position]:
                        yield index, listed, float(score)


def _index(arrange: Callable[[str], str], named: list[tuple[int, str, set[str]]]) -> _Index:
    keys: dict[str, _Owners] = {}
    for index, name, variants in named:
        for variant in variants:
            keys.setdefault(arrange(variant), []).append((index, name))
    return _Index(arrange, list(keys), list(keys.values()))
